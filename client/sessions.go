package client

import (
	"encoding/binary"
	"errors"

	"github.com/sealpost/sealpost/crypto/ratchet"
)

// A session record keeps the ratchet states with one peer device: the
// current one, which encrypts, and up to maxArchived earlier ones, which
// may still decrypt messages in flight (spec/client.md §4). Two devices
// that start sessions with each other at the same time each end up with
// both, and converge on whichever decrypts first.
const (
	sessionRecordVersion = 0x01
	maxArchived          = 3
)

var errBadSessionRecord = errors.New("client: malformed session record")

// sessionRecord is the decoded record; states[0] is the current state.
type sessionRecord struct {
	states []*ratchet.State
}

// marshalSessionRecord encodes r (spec/client.md §4).
func (r *sessionRecord) marshal() []byte {
	b := []byte{sessionRecordVersion, byte(len(r.states))}
	for _, s := range r.states {
		m := s.Marshal()
		b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
		b = append(b, m...)
	}
	return b
}

// parseSessionRecord decodes a record written by marshal.
func parseSessionRecord(b []byte) (*sessionRecord, error) {
	if len(b) < 2 || b[0] != sessionRecordVersion || b[1] < 1 || int(b[1]) > 1+maxArchived {
		return nil, errBadSessionRecord
	}
	n := int(b[1])
	b = b[2:]
	r := &sessionRecord{}
	for range n {
		if len(b) < 4 {
			r.destroy()
			return nil, errBadSessionRecord
		}
		l := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(len(b)) < uint64(l) {
			r.destroy()
			return nil, errBadSessionRecord
		}
		s, err := ratchet.Unmarshal(b[:l])
		if err != nil {
			r.destroy()
			return nil, errors.Join(errBadSessionRecord, err)
		}
		r.states = append(r.states, s)
		b = b[l:]
	}
	if len(b) != 0 {
		r.destroy()
		return nil, errBadSessionRecord
	}
	return r, nil
}

// decrypt tries the current state, then the archived ones, newest first.
// A state that decrypts becomes the current one (spec/client.md §4.2).
// On failure nothing changes and the error is the current state's.
func (r *sessionRecord) decrypt(msg []byte) ([]byte, error) {
	var first error
	for i, s := range r.states {
		pt, err := s.Decrypt(msg)
		if err == nil {
			if i > 0 {
				r.states = append([]*ratchet.State{s}, append(r.states[:i:i], r.states[i+1:]...)...)
			}
			return pt, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// push makes s the current state and archives the others, dropping the
// oldest beyond maxArchived.
func (r *sessionRecord) push(s *ratchet.State) {
	r.states = append([]*ratchet.State{s}, r.states...)
	for len(r.states) > 1+maxArchived {
		r.states[len(r.states)-1].Destroy()
		r.states = r.states[:len(r.states)-1]
	}
}

// destroy zeroes every state.
func (r *sessionRecord) destroy() {
	for _, s := range r.states {
		s.Destroy()
	}
	r.states = nil
}
