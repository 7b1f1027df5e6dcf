// Package tokenkeys keeps a relay's send-token verifier current with the
// key server's issuer keys, which rotate per day epoch (spec/relay.md
// §15.9, spec/anonymous.md §4.3). Its Verifier implements
// relay.SendTokenVerifier: it reads the keys from a Source (the key server
// in the same process, or its keys document over HTTPS, HTTPSource) when
// it starts, every Refresh, shortly after each epoch begins and, at most
// every MinRefetch, when a token names a key it does not hold; a failed
// read keeps the keys it has.
package tokenkeys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
)

// Defaults of Config (spec/relay.md §15.9).
const (
	// DefaultRefresh is how often the keys are read when nothing else asks.
	DefaultRefresh = 10 * time.Minute
	// DefaultMinRefetch is the least time between two reads asked for by
	// tokens of unknown keys, and the wait before a read is retried after
	// a failure.
	DefaultMinRefetch = 30 * time.Second
)

// ErrWrongIssuer reports keys published under another issuer name than
// the relay's key server's: they are not installed.
var ErrWrongIssuer = errors.New("tokenkeys: keys of another issuer")

// ErrBadDocument reports a keys document that is not the one of
// spec/keyserver.md §5.10: it is not installed.
var ErrBadDocument = errors.New("tokenkeys: malformed keys document")

// Source gives the key server's issuer name and the public keys it
// publishes, each with its epoch (spec/keyserver.md §5.10).
// *keyserver.Server and *HTTPSource implement it.
type Source interface {
	SendTokenPublicKeys(ctx context.Context) (issuer string, keys []sendtoken.EpochKey, err error)
}

// Config configures a Verifier.
type Config struct {
	// Source is where the keys are read.
	Source Source
	// Issuer is the key server's name; keys published under another are
	// refused (ErrWrongIssuer).
	Issuer string
	// Logger gets a warning per failed read and an info line when the
	// keys change. Nil discards.
	Logger *slog.Logger
	// Refresh and MinRefetch: 0 means DefaultRefresh, DefaultMinRefetch.
	Refresh    time.Duration
	MinRefetch time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks send tokens with the keys last read from its Source. It
// is safe for concurrent use; Run keeps it current.
type Verifier struct {
	src        Source
	issuer     string
	log        *slog.Logger
	refresh    time.Duration
	minRefetch time.Duration
	now        func() time.Time

	cur  atomic.Pointer[keySet] // nil until the first good read
	poke chan struct{}          // a token named an unknown key
	mu   sync.Mutex             // serialises install
}

// keySet is the keys held and their verifier; read-only once built.
type keySet struct {
	keys []sendtoken.EpochKey // by epoch
	v    *sendtoken.Verifier
}

// New returns a Verifier holding no keys: until its first read every token
// is refused as unknown_key.
func New(cfg Config) (*Verifier, error) {
	if cfg.Source == nil {
		return nil, errors.New("tokenkeys: no source")
	}
	if _, err := sendtoken.NewVerifier(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("tokenkeys: issuer %q: %w", cfg.Issuer, err)
	}
	v := &Verifier{
		src: cfg.Source, issuer: cfg.Issuer, log: cfg.Logger,
		refresh: cfg.Refresh, minRefetch: cfg.MinRefetch, now: cfg.Now,
		poke: make(chan struct{}, 1),
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.refresh <= 0 {
		v.refresh = DefaultRefresh
	}
	if v.minRefetch <= 0 {
		v.minRefetch = DefaultMinRefetch
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Verify checks a token (spec/anonymous.md §6 steps 1 to 5) with the keys
// held. A token of a key not held asks Run for a new read.
func (v *Verifier) Verify(b []byte, now time.Time) (sendtoken.Spent, error) {
	set := v.cur.Load()
	if set == nil {
		if _, err := sendtoken.ParseToken(b); err != nil {
			return sendtoken.Spent{}, err
		}
		v.askRefetch()
		return sendtoken.Spent{}, sendtoken.ErrUnknownKey
	}
	sp, err := set.v.Verify(b, now)
	if errors.Is(err, sendtoken.ErrUnknownKey) {
		v.askRefetch()
	}
	return sp, err
}

func (v *Verifier) askRefetch() {
	select {
	case v.poke <- struct{}{}:
	default:
	}
}

// Keys returns the keys held, by epoch; nil before the first good read.
func (v *Verifier) Keys() []sendtoken.EpochKey {
	if set := v.cur.Load(); set != nil {
		return slices.Clone(set.keys)
	}
	return nil
}

// Refresh reads the keys once and installs them: the keys read, and the
// keys held of other epochs whose tokens are still accepted
// (spec/anonymous.md §4.3: a relay drops a key of epoch e once now ≥
// start(e+2) + ClockSkew). On any error the keys held stay.
func (v *Verifier) Refresh(ctx context.Context) error {
	issuer, keys, err := v.src.SendTokenPublicKeys(ctx)
	if err != nil {
		return err
	}
	if issuer != v.issuer {
		return fmt.Errorf("%w: %q, want %q", ErrWrongIssuer, printable(issuer), v.issuer)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now().Unix()
	live := func(e uint64) bool { return now < sendtoken.EpochStart(e+2)+sendtoken.ClockSkew }
	var merged []sendtoken.EpochKey
	read := map[uint64]bool{}
	for _, k := range keys {
		if k.Key == nil {
			return fmt.Errorf("%w: no key for epoch %d", ErrBadDocument, k.Epoch)
		}
		read[k.Epoch] = true
		if live(k.Epoch) {
			merged = append(merged, k)
		}
	}
	old := v.cur.Load()
	if old != nil {
		for _, k := range old.keys {
			if !read[k.Epoch] && live(k.Epoch) {
				merged = append(merged, k)
			}
		}
	}
	slices.SortStableFunc(merged, func(a, b sendtoken.EpochKey) int {
		switch {
		case a.Epoch < b.Epoch:
			return -1
		case a.Epoch > b.Epoch:
			return 1
		}
		return 0
	})
	// NewVerifier refuses one key for two epochs (spec/anonymous.md §4.3).
	sv, err := sendtoken.NewVerifier(v.issuer, merged...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadDocument, err)
	}
	if old == nil || !sameKeys(old.keys, merged) {
		v.log.Info("relay: send-token keys", "epochs", epochs(merged))
	}
	v.cur.Store(&keySet{keys: merged, v: sv})
	if e := sendtoken.EpochAt(v.now()); !slices.ContainsFunc(merged, func(k sendtoken.EpochKey) bool { return k.Epoch == e }) {
		v.log.Warn("relay: the key server publishes no send-token key for the current epoch", "epoch", e)
	}
	return nil
}

// Run reads the keys at once, then every Refresh, ClockSkew seconds after
// each epoch begins, and when a token named an unknown key (at most every
// MinRefetch), until ctx is done. A failed read is logged at warn and
// retried after MinRefetch; the keys held stay in use.
func (v *Verifier) Run(ctx context.Context) {
	var last time.Time // of the last read
	next := time.Now() // of the next read
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-v.poke:
			if earliest := last.Add(v.minRefetch); time.Now().Before(earliest) {
				// Too soon after the last read: read at earliest, unless
				// a read is due before.
				if earliest.Before(next) {
					next = earliest
					t.Reset(time.Until(next))
				}
				continue
			}
			t.Stop()
		}
		last = time.Now()
		rctx, cancel := context.WithTimeout(ctx, v.minRefetch)
		err := v.Refresh(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		wait := v.refresh
		if err != nil {
			v.log.Warn("relay: reading the send-token keys failed; the keys held stay in use", "err", err, "retry_in", v.minRefetch.String())
			wait = v.minRefetch
		}
		// ClockSkew seconds after the next epoch begins, for the key of
		// the epoch after it.
		now := v.now()
		if d := time.Duration(sendtoken.EpochStart(sendtoken.EpochAt(now)+1)+sendtoken.ClockSkew-now.Unix()) * time.Second; d > 0 && d < wait {
			wait = d
		}
		// A poke that came during the read is answered by it.
		select {
		case <-v.poke:
		default:
		}
		next = time.Now().Add(wait)
		t.Reset(wait)
	}
}

func sameKeys(a, b []sendtoken.EpochKey) bool {
	return slices.EqualFunc(a, b, func(x, y sendtoken.EpochKey) bool { return x.Epoch == y.Epoch && x.Key.Equal(y.Key) })
}

func epochs(keys []sendtoken.EpochKey) []uint64 {
	out := make([]uint64, len(keys))
	for i, k := range keys {
		out[i] = k.Epoch
	}
	return out
}

// printable returns s cut to 64 bytes with bytes outside 0x20–0x7e as '?',
// for error messages about text from the network.
func printable(s string) string {
	b := []byte(s[:min(len(s), 64)])
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
