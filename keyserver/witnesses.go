package keyserver

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/witness"
	"golang.org/x/mod/sumdb/tlog"
)

// WitnessConfig names a witness the key server submits its checkpoints to
// (spec/transparency-v2.md §7.2, §7.6).
type WitnessConfig struct {
	// URL is the witness's submission prefix (http or https).
	URL string
	// VerifierKey is the witness's cosignature verifier key (§7.1).
	VerifierKey string
}

// DefaultWitnessInterval is the default Config.WitnessInterval.
const DefaultWitnessInterval = time.Second

// maxWitnessBackoff bounds the wait before retrying a witness that failed.
const maxWitnessBackoff = time.Minute

// cosigner submits each new checkpoint of the directory's log to the
// witnesses in the background and keeps the cosignature lines of the
// latest size, which the log's checkpointer appends to what it serves
// (spec/transparency-v2.md §7.3, §7.6). The version 1 log is not
// published, so nothing submits its checkpoints.
type cosigner struct {
	cp       *checkpointer
	clients  []*witness.Client
	interval time.Duration
	kick     chan struct{}

	mu    sync.Mutex
	size  int64                  // size the lines are for
	lines [][]kt.CosignatureLine // per witness, for size; nil if none yet
	held  []int64                // per witness: the size it last cosigned, as far as known
	fails []int                  // per witness: consecutive failures
	next  []time.Time            // per witness: not before
}

// witnessClients checks the configured witnesses against the directory
// log of the server name with the log key (spec/transparency-v2.md §7.2:
// keys that parse, http(s) URLs, no witness twice, none with the log's
// own key) and returns their clients, or every problem joined.
func witnessClients(name string, logKey ed25519.PrivateKey, ws []WitnessConfig) ([]*witness.Client, error) {
	vkey, err := directory.VerifierKey(name, logKey.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("keyserver: LogKey: %w", err)
	}
	logVerifier, err := kt.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("keyserver: LogKey: %w", err)
	}
	var errs []error
	var kws []kt.Witness
	var clients []*witness.Client
	for _, w := range ws {
		kw, err := kt.ParseWitness(w.VerifierKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("keyserver: witness %q: %w", w.VerifierKey, err))
			continue
		}
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("keyserver: witness %s: URL %q is not http(s)", kw.Name, w.URL))
		}
		kws = append(kws, kw)
		clients = append(clients, &witness.Client{URL: w.URL, Witness: kw})
	}
	if len(errs) == 0 {
		if err := kt.CheckPolicy(logVerifier, kws, len(kws)); err != nil {
			errs = append(errs, fmt.Errorf("keyserver: witnesses: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return clients, nil
}

// newCosigner returns the cosigner of cp's log submitting to clients
// (checked by witnessClients), and makes cp serve its lines.
func newCosigner(cp *checkpointer, clients []*witness.Client, interval time.Duration) *cosigner {
	n := len(clients)
	c := &cosigner{cp: cp, clients: clients, interval: interval, kick: make(chan struct{}, 1),
		size: -1, lines: make([][]kt.CosignatureLine, n), held: make([]int64, n), fails: make([]int, n), next: make([]time.Time, n)}
	cp.cos = c
	return c
}

// linesFor returns the cosignature lines held for size.
func (c *cosigner) linesFor(size int64) []kt.CosignatureLine {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if size != c.size {
		return nil
	}
	var out []kt.CosignatureLine
	for _, l := range c.lines {
		out = append(out, l...)
	}
	return out
}

// wake asks the loop to look at the log now.
func (c *cosigner) wake() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// runCosigner submits c's checkpoints until stop is closed.
func (s *Server) runCosigner(c *cosigner, stop <-chan struct{}) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		s.cosignRound(ctx, c)
		select {
		case <-stop:
			return
		case <-t.C:
		case <-c.kick:
		}
	}
}

// cosignRound submits c's log's current checkpoint to every witness that
// has not cosigned its size and is not backing off.
func (s *Server) cosignRound(ctx context.Context, c *cosigner) {
	size, err := c.cp.src.size(ctx)
	if err != nil || size == 0 {
		return
	}
	signed, err := c.cp.plain(ctx, size)
	if err != nil {
		s.log.Warn("witness: signing the checkpoint to submit", "origin", c.cp.origin, "size", size, "err", err)
		return
	}
	now := time.Now()
	c.mu.Lock()
	if size != c.size {
		if size < c.size {
			c.mu.Unlock()
			return
		}
		c.size = size
		clear(c.lines)
	}
	var todo []int
	for i := range c.clients {
		if c.lines[i] == nil && !now.Before(c.next[i]) {
			todo = append(todo, i)
		}
	}
	held := append([]int64(nil), c.held...)
	c.mu.Unlock()

	prove := func(ctx context.Context, older, newer int64) (tlog.TreeProof, error) {
		return tlog.ProveTree(newer, older, c.cp.src.hashReader(ctx))
	}
	var wg sync.WaitGroup
	for _, i := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c.clients[i]
			lines, known, err := cl.Submit(ctx, signed, size, held[i], prove)
			c.mu.Lock()
			defer c.mu.Unlock()
			c.held[i] = known
			if err != nil {
				c.fails[i]++
				backoff := min(maxWitnessBackoff, time.Second<<min(c.fails[i]-1, 6))
				c.next[i] = time.Now().Add(backoff)
				s.log.Warn("witness: no cosignature", "witness", cl.Witness.Name, "origin", c.cp.origin, "size", size, "err", err, "retry_in", backoff)
				return
			}
			c.fails[i], c.next[i] = 0, time.Time{}
			if c.size == size {
				c.lines[i] = lines
			}
		}()
	}
	wg.Wait()
}
