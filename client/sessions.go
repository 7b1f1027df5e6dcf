package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/ratchet"
)

// A session record keeps the ratchet states with one peer device: the
// current one, which encrypts, and up to maxArchived earlier ones, which
// may still decrypt messages in flight, for at most maxArchivedAge after
// they were archived (spec/client.md §4). Two devices that start sessions
// with each other at the same time each end up with both, and converge on
// whichever decrypts first.
const (
	sessionRecordVersion  = 0x02
	sessionRecordVersion1 = 0x01 // read, written as version 2 (spec/client.md §4.1)
	maxArchived           = 3
	// maxArchivedAge is how long an archived state is kept: the relay's
	// envelope lifetime (spec/relay.md §6), after which no message for
	// it can still arrive.
	maxArchivedAge = ratchet.MaxSkippedKeyAge
)

var errBadSessionRecord = errors.New("client: malformed session record")

// sessionRecord is the decoded record; states[0] is the current state and
// archived[i] is when states[i] was archived, in Unix seconds: 0 for the
// current state and for a state archived since the last expire.
type sessionRecord struct {
	states   []*ratchet.State
	archived []uint64
}

// archivedAt returns archived[i], 0 where the slice is short.
func (r *sessionRecord) archivedAt(i int) uint64 {
	if i < len(r.archived) {
		return r.archived[i]
	}
	return 0
}

// marshal encodes r (spec/client.md §4.1):
// 0x02 || count || count × (archived 8 || len 4 || state).
func (r *sessionRecord) marshal() []byte {
	b := []byte{sessionRecordVersion, byte(len(r.states))}
	for i, s := range r.states {
		m := s.Marshal()
		b = binary.BigEndian.AppendUint64(b, r.archivedAt(i))
		b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
		b = append(b, m...)
		clear(m)
	}
	return b
}

// parseSessionRecord decodes a record written by marshal, or a version 1
// record (without archive times, which it takes as not yet stamped).
func parseSessionRecord(b []byte) (*sessionRecord, error) {
	if len(b) < 2 || (b[0] != sessionRecordVersion && b[0] != sessionRecordVersion1) || b[1] < 1 || int(b[1]) > 1+maxArchived {
		return nil, errBadSessionRecord
	}
	v1 := b[0] == sessionRecordVersion1
	n := int(b[1])
	b = b[2:]
	r := &sessionRecord{}
	fail := func(err error) (*sessionRecord, error) {
		r.destroy()
		return nil, errors.Join(errBadSessionRecord, err)
	}
	for i := range n {
		var at uint64
		if !v1 {
			if len(b) < 8 {
				return fail(nil)
			}
			at = binary.BigEndian.Uint64(b)
			b = b[8:]
			if i == 0 && at != 0 {
				return fail(errors.New("current state with an archive time"))
			}
		}
		if len(b) < 4 {
			return fail(nil)
		}
		l := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(len(b)) < uint64(l) {
			return fail(nil)
		}
		s, err := ratchet.Unmarshal(b[:l])
		if err != nil {
			return fail(err)
		}
		r.states = append(r.states, s)
		r.archived = append(r.archived, at)
		b = b[l:]
	}
	if len(b) != 0 {
		return fail(nil)
	}
	return r, nil
}

// decrypt tries the current state, then the archived ones, newest first.
// A state that decrypts becomes the current one (spec/client.md §4.2),
// and the record is then expired as of now (expire). On failure nothing
// changes and the error is the current state's.
func (r *sessionRecord) decrypt(msg []byte) ([]byte, error) {
	var first error
	for i, s := range r.states {
		pt, err := s.Decrypt(msg)
		if err == nil {
			if i > 0 {
				r.states = append([]*ratchet.State{s}, append(r.states[:i:i], r.states[i+1:]...)...)
				archived := make([]uint64, len(r.states))
				for j := range r.states {
					switch {
					case j == 0:
					case j <= i:
						archived[j] = r.archivedAt(j - 1)
					default:
						archived[j] = r.archivedAt(j)
					}
				}
				archived[1] = 0 // the old current state is archived now
				r.archived = archived
			}
			r.expire(time.Now())
			return pt, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// push makes s the current state and archives the others, dropping the
// oldest beyond maxArchived, then expires the record as of now.
func (r *sessionRecord) push(s *ratchet.State) {
	archived := []uint64{0}
	for i := range r.states {
		archived = append(archived, r.archivedAt(i))
	}
	r.states = append([]*ratchet.State{s}, r.states...)
	r.archived = archived
	for len(r.states) > 1+maxArchived {
		r.states[len(r.states)-1].Destroy()
		r.states = r.states[:len(r.states)-1]
		r.archived = r.archived[:len(r.states)]
	}
	r.expire(time.Now())
}

// expire applies the age bounds of spec/client.md §4.1 as of now: each
// state's skipped message keys older than ratchet.MaxSkippedKeyAge go
// (ratchet.State.ExpireSkipped), archived states are stamped with now when
// first seen archived and destroyed once archived longer than
// maxArchivedAge. The current state is never dropped. It reports whether
// anything was discarded.
func (r *sessionRecord) expire(now time.Time) bool {
	t := uint64(max(now.Unix(), 1))
	limit := uint64(maxArchivedAge / time.Second)
	changed := false
	states, archived := r.states[:0], make([]uint64, 0, len(r.states))
	for i, s := range r.states {
		at := r.archivedAt(i)
		if i > 0 {
			if at == 0 {
				at = t
			}
			if t > at && t-at > limit {
				s.Destroy()
				changed = true
				continue
			}
		}
		if s.ExpireSkipped(now) > 0 {
			changed = true
		}
		states = append(states, s)
		archived = append(archived, at)
	}
	clear(r.states[len(states):])
	r.states, r.archived = states, archived
	return changed
}

// destroy zeroes every state.
func (r *sessionRecord) destroy() {
	for _, s := range r.states {
		s.Destroy()
	}
	r.states, r.archived = nil, nil
}

// expireSessions applies the age bounds to every stored session record
// (spec/client.md §4.1), storing those that changed: the maintenance
// sweep, so that sessions nobody writes to expire too.
func (c *Client) expireSessions(ctx context.Context) error {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	now := time.Now()
	err := c.store.Update(ctx, func(tx localstore.Tx) error {
		peers, err := tx.SessionPeers()
		if err != nil {
			return err
		}
		for _, p := range peers {
			s, err := tx.Session(p.Handle, p.Device)
			if err != nil {
				return err
			}
			rec, err := parseSessionRecord(s.State)
			if err != nil {
				clear(s.State)
				// A record that does not parse is left for the
				// receive path to report; the sweep goes on.
				continue
			}
			rec.expire(now)
			state := rec.marshal()
			rec.destroy()
			if !bytes.Equal(state, s.State) {
				err = tx.PutSession(localstore.Session{PeerHandle: p.Handle, PeerDevice: p.Device, State: state, Updated: s.Updated})
			}
			clear(state)
			clear(s.State)
			if err != nil {
				return err
			}
		}
		return nil
	})
	return storeError(err)
}
