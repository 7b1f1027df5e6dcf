package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// AuditorConfig configures a DirectoryAuditor. The fields mean what
// Config's fields of the same names mean; LogKey is required (an auditor
// does not trust on first use).
type AuditorConfig struct {
	KeyServer        string
	CAFile, Pin      string
	LogKey           string
	Witnesses        []string
	WitnessQuorum    int
	MaxCheckpointAge time.Duration
}

// A DirectoryAuditor audits a key server's key directory as anyone can,
// with no account and over public data that names nobody
// (spec/transparency-v2.md §8): every epoch's map follows from the one
// before by exactly its published batch, versions only increase, the
// VRF key never changes, and the log only grows. It keeps nothing: the
// caller stores the audit state each Audit returns and gives it to the
// next, which then checks only the epochs since. It is safe for
// concurrent use, though audits of one state should run one at a time.
type DirectoryAuditor struct {
	ks     *ksclient.Client
	v      *kt.Verifier
	maxAge time.Duration

	mu     sync.Mutex
	vrfKey *vrf.PublicKey // from the discovery document, once fetched
}

// NewDirectoryAuditor checks cfg and returns an auditor; it does not
// contact the server.
func NewDirectoryAuditor(cfg AuditorConfig) (*DirectoryAuditor, error) {
	var problems []error
	if cfg.LogKey == "" {
		problems = append(problems, errors.New("client: AuditorConfig.LogKey is empty: set it to the key server's directory log verifier key (sealpostd prints it)"))
	}
	if cfg.MaxCheckpointAge < 0 {
		problems = append(problems, fmt.Errorf("client: AuditorConfig.MaxCheckpointAge %v is negative", cfg.MaxCheckpointAge))
	} else if cfg.MaxCheckpointAge == 0 {
		cfg.MaxCheckpointAge = DefaultMaxCheckpointAge
	}
	t, errs := newServerTrust(serverTrustConfig{
		keyServer: cfg.KeyServer, caFile: cfg.CAFile, pin: cfg.Pin, logKey: cfg.LogKey,
		witnesses: cfg.Witnesses, quorum: cfg.WitnessQuorum,
	})
	if problems = append(problems, errs...); len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	v, err := directory.NewVerifier(cfg.LogKey)
	if err != nil {
		return nil, fmt.Errorf("client: AuditorConfig.LogKey: %w", err)
	}
	return &DirectoryAuditor{ks: t.ks, v: v, maxAge: cfg.MaxCheckpointAge}, nil
}

// Audit checks the directory from state — an encoded audit state an
// earlier Audit returned (spec/transparency-v2.md §8.1), or nil to start
// from the empty directory — up to the server's latest checkpoint, and
// returns the new state to keep and a report (AuditReport.Known and
// Updated are zero: an auditor knows no account). progress, if not nil,
// is called as epochs are checked.
//
// Errors: ErrSecurity when the server is shown to misbehave (a fork of
// the audited tree, an epoch that changed more than its batch, a version
// that went down, another VRF key); ErrStale for a checkpoint older than
// the audited tree (consistent with it) or than MaxCheckpointAge;
// ErrNoQuorum without the witnesses' cosignatures; ErrCorrupt for a state
// that does not parse; otherwise a network or server error, to retry.
func (a *DirectoryAuditor) Audit(ctx context.Context, state []byte, progress func(done, total int64)) ([]byte, *AuditReport, error) {
	vrfKey, err := a.vrf(ctx)
	if err != nil {
		return nil, nil, err
	}
	fresh := ksclient.Freshness{Now: time.Now(), MaxAge: a.maxAge}
	res, rep, err := runAudit(ctx, a.ks, a.v, vrfKey, nil, fresh, state, progress)
	if err != nil {
		return nil, nil, classify("audit", err)
	}
	return res.State.Marshal(), rep, nil
}

// vrf returns the directory's VRF key from the discovery document, which
// must name the configured log key and name (ksclient.Expect). A state
// started under it holds it from then on: a leaf under another key fails
// the audit.
func (a *DirectoryAuditor) vrf(ctx context.Context) (*vrf.PublicKey, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.vrfKey != nil {
		return a.vrfKey, nil
	}
	wk, err := a.ks.WellKnown(ctx)
	if err != nil {
		return nil, classify("discovery", err)
	}
	k, err := vrf.ParsePublicKey(wk.VRFKey)
	if err != nil {
		return nil, fmt.Errorf("%w: the key server's VRF key: %w", ErrSecurity, err)
	}
	a.vrfKey = k
	return k, nil
}

// classify maps an error of a ksclient check to the client's kinds:
// ErrSecurity, ErrStale, ErrNoQuorum, or the error as it is.
func classify(what string, err error) error {
	switch {
	case errors.Is(err, kt.ErrSecurity):
		return fmt.Errorf("%w: %w", ErrSecurity, err)
	case errors.Is(err, ksclient.ErrStale):
		return fmt.Errorf("%w: %w", ErrStale, err)
	case errors.Is(err, kt.ErrNoQuorum):
		return fmt.Errorf("%w: %w", ErrNoQuorum, err)
	}
	return fmt.Errorf("client: %s: %w", what, err)
}
