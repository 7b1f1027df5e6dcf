package relay

import (
	"context"
	"time"

	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver/revocation"
	"github.com/sealpost/sealpost/relay/wire"
)

// RevocationSource is where a relay learns which devices the key server
// has revoked (spec/relay.md §2.4): the key server's revocation feed
// (spec/keyserver.md §5.9), read in process (*keyserver.Server) or over
// HTTPS (*revocation.Client).
type RevocationSource interface {
	// Revocations returns the entries of the feed from cursor from, at
	// most a page, and the cursor of the next page.
	Revocations(ctx context.Context, from int64) ([]revocation.Entry, int64, error)
}

// DefaultRevocationPoll is how often a relay reads the revocation feed.
const DefaultRevocationPoll = time.Second

// revocationKeep is how long a revoked device is remembered: every token
// of it was issued before its revocation, so none outlives it by more
// than the longest token lifetime the relay accepts (plus clock skew).
const revocationKeep = token.MaxLifetime + token.ClockSkew

// revocationTimeout bounds one read of the feed.
const revocationTimeout = 10 * time.Second

// revokedDevice is the feed's name of the device a token names.
func revokedDevice(tok *token.Token) [32]byte {
	return revocation.DeviceHash(tok.Handle, uint32(tok.Device))
}

// isRevoked reports whether the device hashed as dev is revoked. s.mu is
// held.
func (s *Server) isRevokedLocked(dev [32]byte) bool {
	_, ok := s.revoked[dev]
	return ok
}

// isRevoked reports whether the device hashed as dev is revoked.
func (s *Server) isRevoked(dev [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isRevokedLocked(dev)
}

// pollRevocations reads the feed at once and then every interval until
// Shutdown (spec/relay.md §2.4). A failed read is logged when the feed
// starts failing and when it answers again, and counted every time; what
// was learnt is kept meanwhile.
func (s *Server) pollRevocations(src RevocationSource, every time.Duration) {
	defer s.bgDone.Done()
	// Reads end when Shutdown begins, not only at their timeout.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var cursor int64
	failing, loaded := false, false
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		n, next, err := s.readFeed(ctx, src, cursor)
		cursor = next
		if err != nil {
			s.m.revocationPoll(false)
			if !failing && ctx.Err() == nil {
				s.log.Warn("relay: revocation feed unreachable; revoked devices' tokens are refused again once it answers, and expire in any case", "err", err)
			}
			failing = true
		} else {
			s.m.revocationPoll(true)
			switch {
			case !loaded:
				s.log.Info("relay: revocation feed read", "revoked_devices", s.revokedCount())
			case failing:
				s.log.Info("relay: revocation feed reachable again")
			}
			failing, loaded = false, true
		}
		if n > 0 {
			s.log.Info("relay: closed connections of revoked devices", "count", n)
		}
		s.forgetRevocations()
		t.Reset(every)
	}
}

// readFeed reads every page of the feed from cursor, records the
// revocations and closes the connections of revoked devices. It returns
// how many connections it closed and the cursor to read from next.
func (s *Server) readFeed(ctx context.Context, src RevocationSource, cursor int64) (int, int64, error) {
	closed := 0
	for {
		rctx, cancel := context.WithTimeout(ctx, revocationTimeout)
		es, next, err := src.Revocations(rctx, cursor)
		cancel()
		if err != nil {
			return closed, cursor, err
		}
		closed += s.revoke(es)
		if len(es) == 0 || next <= cursor {
			return closed, cursor, nil
		}
		cursor = next
	}
}

// revokedCount is how many revoked devices the relay remembers.
func (s *Server) revokedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.revoked)
}

// revoke records entries and closes the connections on this node of the
// devices they name with Error{device_revoked}; it returns how many it
// closed. Recording and the check in bind are both under s.mu, so a
// connection authenticating meanwhile is refused by one or the other.
func (s *Server) revoke(es []revocation.Entry) int {
	if len(es) == 0 {
		return 0
	}
	oldest := s.now().Add(-revocationKeep)
	s.mu.Lock()
	fresh := false
	for _, e := range es {
		if e.Time.Before(oldest) {
			continue // every token of it has expired
		}
		if _, ok := s.revoked[e.Device]; !ok {
			s.revoked[e.Device] = e.Time
			fresh = true
		}
	}
	var victims []*conn
	if fresh {
		for _, c := range s.conns {
			if s.isRevokedLocked(c.dev) {
				victims = append(victims, c)
			}
		}
	}
	s.m.revocations(len(s.revoked))
	s.mu.Unlock()
	for _, c := range victims {
		c.fail(wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED, "device revoked")
	}
	return len(victims)
}

// forgetRevocations drops revocations older than revocationKeep.
func (s *Server) forgetRevocations() {
	oldest := s.now().Add(-revocationKeep)
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, at := range s.revoked {
		if at.Before(oldest) {
			delete(s.revoked, d)
		}
	}
	s.m.revocations(len(s.revoked))
}
