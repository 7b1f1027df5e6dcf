// Package keyserver is Sealpost's key server: the HTTP+JSON API of
// spec/keyserver.md over a store.Store. It registers accounts, looks up
// handles with transparency proofs, adds and revokes devices, issues access
// tokens against signed device challenges, stores prekeys and hands out
// prekey bundles, each one-time prekey at most once.
//
// Every key-set change appends a leaf (keyserver/kt) to the internal
// version 1 log, which is not published: its indexes order the changes
// and are the revocation feed's cursor. With a VRF key the server keeps
// the version 2 key directory (spec/transparency-v2.md, spec/keyserver.md
// §9): a background sequencer puts pending key-set changes into epochs of
// a verifiable map, one leaf of the directory's log per epoch, whose
// checkpoints the log key signs on demand, and /v2 serves proofs of the
// latest key set. Lookups and the public log are /v2 only.
package keyserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
)

// Config configures a Server. Name, Store, TokenKey and LogKey are required.
type Config struct {
	// Name is the server name: tokens are for audience "keyserver:<Name>",
	// the directory's checkpoints have origin "<Name>/sealpost-kt/v2".
	Name  string
	Store store.Store
	// TokenKey signs access tokens.
	TokenKey ed25519.PrivateKey
	// LogKey signs the directory's checkpoints.
	LogKey ed25519.PrivateKey
	// RelayAudiences are the extra audiences tokens may be issued for, such
	// as "relay:localhost".
	RelayAudiences []string
	// InviteOnly makes registration need an invite code (see AddInvite).
	InviteOnly bool
	// Limits are the server's limits; zero fields take DefaultLimits.
	Limits Limits
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CheckpointRefresh is how old the served checkpoint's timestamp may
	// grow before the log key signs the tree again (spec/keyserver.md
	// §9.3); 0 means DefaultCheckpointRefresh.
	CheckpointRefresh time.Duration
	// Witnesses are the witnesses each new checkpoint of the directory's
	// log is submitted to, in the background; their cosignature lines are
	// served with it (spec/transparency-v2.md §7). None: checkpoints are
	// not witnessed. Without a VRFKey there is no published log: they are
	// checked, and not used.
	Witnesses []WitnessConfig
	// WitnessInterval is how often the server looks for a checkpoint to
	// submit (it also does when it signs a new size); 0 means
	// DefaultWitnessInterval. The witnesses cosign the directory log only
	// (spec/transparency-v2.md §7.6).
	WitnessInterval time.Duration
	// VRFKey is the key of the version 2 key directory
	// (spec/transparency-v2.md §3): it computes each handle's map index.
	// With it the server sequences key-set changes into directory epochs
	// in the background and serves /v2 (spec/keyserver.md §9): the
	// lookups and the public log. nil runs no directory, and then the
	// server serves no lookups at all, only the rest of /v1
	// (registration, devices, tokens, prekeys, claims, the revocation
	// feed): that is for a short-lived server that only changes the
	// store, such as `sealpostd invite` adding an invite code beside the
	// running one. It must be a key of its own, neither TokenKey nor
	// LogKey. The server does not take ownership: the caller may Zero it
	// after Close.
	VRFKey *vrf.PrivateKey
	// EpochInterval is how often the sequencer looks for key-set changes
	// not yet in the directory; a change made through this server starts
	// a round at once. Every change pending when a round starts goes into
	// its epoch. 0 means DefaultEpochInterval.
	EpochInterval time.Duration
}

// DefaultCheckpointRefresh is the default Config.CheckpointRefresh: well
// inside the 24 hours a client accepts (spec/client.md §6.1).
const DefaultCheckpointRefresh = 10 * time.Minute

// Limits are the server's limits (spec/keyserver.md §4).
type Limits struct {
	// MaxBodyBytes caps a request body; larger bodies get 413.
	MaxBodyBytes int64
	// MaxOneTimePerUpload caps the one-time prekeys of each kind in one
	// upload.
	MaxOneTimePerUpload int
	// MaxOneTimePerDevice caps the one-time prekeys of each kind a device
	// may hold.
	MaxOneTimePerDevice int
	// TokenLifetime is the lifetime of issued tokens (at most
	// token.MaxLifetime).
	TokenLifetime time.Duration
	// ClaimsPerMinute is the claim rate each caller (token subject) gets.
	ClaimsPerMinute int
	// ClaimBurst is how many claims a caller may make at once.
	ClaimBurst int
	// TargetClaimsPerHour is how many claims of one target account per
	// hour are served one-time prekeys, whoever the callers; past it (and
	// TargetClaimBurst) a claim is answered without one-time prekeys
	// (spec/keyserver.md §5.8).
	TargetClaimsPerHour int
	// TargetClaimBurst is how many such claims a target may get at once.
	TargetClaimBurst int
	// RequestsPerSecond is the rate of challenge, registration, token,
	// device addition and revocation requests each client IP address gets.
	RequestsPerSecond int
	// RequestBurst is how many such requests an address may make at once.
	RequestBurst int
	// UploadsPerHour is the rate of prekey uploads each device (token
	// subject) gets; UploadBurst how many it may make at once.
	UploadsPerHour int
	UploadBurst    int
	// LookupsPerSecond is the lookup budget of each account whose token a
	// lookup carries; LookupBurst how much of it may be spent at once.
	// AddressLookupsPerSecond and AddressLookupBurst are the same for each
	// client IP address, token or not. A hit costs 1, a miss
	// (unknown_handle) LookupMissCost.
	LookupsPerSecond        int
	LookupBurst             int
	AddressLookupsPerSecond int
	AddressLookupBurst      int
	LookupMissCost          int
	// MaxLeaves caps the leaves one GET /v2/log/leaves returns.
	MaxLeaves int
	// SendTokensPerEpoch is how many send tokens each account may be
	// issued per key epoch, a day (spec/keyserver.md §5.10): the
	// anti-spam control of anonymous sends.
	SendTokensPerEpoch int
	// SendTokenBatch is the most send tokens one issuance request may ask
	// for, 1 to sendtoken.MaxBatchSize (spec/anonymous.md §5.3).
	SendTokenBatch int
}

// DefaultLimits returns the default limits (spec/keyserver.md §4).
func DefaultLimits() Limits {
	return Limits{
		MaxBodyBytes:        1 << 20,
		MaxOneTimePerUpload: 100,
		MaxOneTimePerDevice: 500,
		TokenLifetime:       time.Hour,
		ClaimsPerMinute:     120,
		ClaimBurst:          60,
		TargetClaimsPerHour: 60,
		TargetClaimBurst:    30,
		RequestsPerSecond:   20,
		RequestBurst:        40,
		UploadsPerHour:      60,
		UploadBurst:         10,
		LookupsPerSecond:    5,
		LookupBurst:         60,
		LookupMissCost:      5,

		AddressLookupsPerSecond: 20,
		AddressLookupBurst:      200,
		MaxLeaves:               256,
		SendTokensPerEpoch:      500,
		SendTokenBatch:          sendtoken.MaxBatchSize,
	}
}

// withDefaults fills l's zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxOneTimePerUpload == 0 {
		l.MaxOneTimePerUpload = d.MaxOneTimePerUpload
	}
	if l.MaxOneTimePerDevice == 0 {
		l.MaxOneTimePerDevice = d.MaxOneTimePerDevice
	}
	if l.TokenLifetime == 0 {
		l.TokenLifetime = d.TokenLifetime
	}
	if l.ClaimsPerMinute == 0 {
		l.ClaimsPerMinute = d.ClaimsPerMinute
	}
	if l.ClaimBurst == 0 {
		l.ClaimBurst = d.ClaimBurst
	}
	if l.RequestsPerSecond == 0 {
		l.RequestsPerSecond = d.RequestsPerSecond
	}
	if l.RequestBurst == 0 {
		l.RequestBurst = d.RequestBurst
	}
	if l.TargetClaimsPerHour == 0 {
		l.TargetClaimsPerHour = d.TargetClaimsPerHour
	}
	if l.TargetClaimBurst == 0 {
		l.TargetClaimBurst = d.TargetClaimBurst
	}
	if l.UploadsPerHour == 0 {
		l.UploadsPerHour = d.UploadsPerHour
	}
	if l.UploadBurst == 0 {
		l.UploadBurst = d.UploadBurst
	}
	if l.LookupsPerSecond == 0 {
		l.LookupsPerSecond = d.LookupsPerSecond
	}
	if l.LookupBurst == 0 {
		l.LookupBurst = d.LookupBurst
	}
	if l.AddressLookupsPerSecond == 0 {
		l.AddressLookupsPerSecond = d.AddressLookupsPerSecond
	}
	if l.AddressLookupBurst == 0 {
		l.AddressLookupBurst = d.AddressLookupBurst
	}
	if l.LookupMissCost == 0 {
		l.LookupMissCost = d.LookupMissCost
	}
	if l.MaxLeaves == 0 {
		l.MaxLeaves = d.MaxLeaves
	}
	if l.SendTokensPerEpoch == 0 {
		l.SendTokensPerEpoch = d.SendTokensPerEpoch
	}
	if l.SendTokenBatch == 0 {
		l.SendTokenBatch = d.SendTokenBatch
	}
	return l
}

// check reports every limit out of range.
func (l Limits) check() []error {
	var errs []error
	if l.MaxBodyBytes < 4096 {
		errs = append(errs, fmt.Errorf("keyserver: MaxBodyBytes %d below 4096", l.MaxBodyBytes))
	}
	if l.MaxOneTimePerUpload < 0 || l.MaxOneTimePerDevice < 0 || l.MaxOneTimePerUpload > l.MaxOneTimePerDevice {
		errs = append(errs, fmt.Errorf("keyserver: MaxOneTimePerUpload %d must be in [0, MaxOneTimePerDevice %d]", l.MaxOneTimePerUpload, l.MaxOneTimePerDevice))
	}
	if l.TokenLifetime < time.Second || l.TokenLifetime > token.MaxLifetime || l.TokenLifetime%time.Second != 0 {
		errs = append(errs, fmt.Errorf("keyserver: TokenLifetime %v not whole seconds in [1s, %v]", l.TokenLifetime, token.MaxLifetime))
	}
	for _, v := range []int{l.ClaimsPerMinute, l.ClaimBurst, l.TargetClaimsPerHour, l.TargetClaimBurst,
		l.RequestsPerSecond, l.RequestBurst, l.UploadsPerHour, l.UploadBurst,
		l.LookupsPerSecond, l.LookupBurst, l.AddressLookupsPerSecond, l.AddressLookupBurst, l.LookupMissCost} {
		if v < 0 {
			errs = append(errs, errors.New("keyserver: negative rate limit"))
			break
		}
	}
	if l.MaxLeaves < 1 {
		errs = append(errs, fmt.Errorf("keyserver: MaxLeaves %d below 1", l.MaxLeaves))
	}
	if l.SendTokenBatch < 1 || l.SendTokenBatch > sendtoken.MaxBatchSize {
		errs = append(errs, fmt.Errorf("keyserver: SendTokenBatch %d not in [1, %d]", l.SendTokenBatch, sendtoken.MaxBatchSize))
	}
	if l.SendTokensPerEpoch < 1 {
		errs = append(errs, fmt.Errorf("keyserver: SendTokensPerEpoch %d below 1", l.SendTokensPerEpoch))
	}
	return errs
}

// Server is the key server. It is safe for concurrent use.
type Server struct {
	name      string
	audience  string // "keyserver:<Name>"
	store     store.Store
	tokenKey  ed25519.PrivateKey
	relayAuds []string
	invite    bool
	limits    Limits
	log       *slog.Logger
	now       func() time.Time
	rand      io.Reader

	verifier      *token.Verifier
	tokenPub      ed25519.PublicKey
	tokenKID      [token.KeyIDSize]byte
	metrics       *metrics
	ipLimit       *limiter // per address: challenge, register, token, add device, revoke
	claimLim      *limiter // per caller account: claims
	targetLim     *limiter // per target account: claims served one-time prekeys
	uploadLim     *limiter // per device: prekey uploads
	lookupIPLim   *limiter // per address: lookups
	lookupAcctLim *limiter // per account (token given): lookups
	sigChecks     atomic.Int64
	wellKnownBody []byte // GET /.well-known/sealpost-keyserver body

	dir *dirServer // nil without a VRFKey

	issuer *issuerKeys // send-token signing keys (sendtokens.go)

	stop chan struct{}
	bg   sync.WaitGroup // background loops: sweep, cosigner, sequencer
}

// New returns a Server for cfg, or every problem with cfg joined.
func New(cfg Config) (*Server, error) {
	var errs []error
	if err := token.CheckServerName(cfg.Name); err != nil {
		errs = append(errs, fmt.Errorf("keyserver: Name %q: must be 1 to %d printable ASCII bytes, no spaces", cfg.Name, token.MaxServerNameLen-len("keyserver:")))
	} else if err := token.CheckAudience(api.AudiencePrefix + cfg.Name); err != nil {
		errs = append(errs, fmt.Errorf("keyserver: Name %q too long for audience %q", cfg.Name, api.AudiencePrefix+cfg.Name))
	}
	if cfg.Store == nil {
		errs = append(errs, errors.New("keyserver: Store is nil"))
	}
	if len(cfg.TokenKey) != ed25519.PrivateKeySize {
		errs = append(errs, fmt.Errorf("keyserver: TokenKey length %d, want %d", len(cfg.TokenKey), ed25519.PrivateKeySize))
	}
	if len(cfg.LogKey) != ed25519.PrivateKeySize {
		errs = append(errs, fmt.Errorf("keyserver: LogKey length %d, want %d", len(cfg.LogKey), ed25519.PrivateKeySize))
	}
	// spec/keys.md §2.3: the log key signs C2SP notes only, without a
	// Sealpost label, so it must be a key of its own.
	if len(cfg.LogKey) > 0 && subtle.ConstantTimeCompare(cfg.LogKey, cfg.TokenKey) == 1 {
		errs = append(errs, errors.New("keyserver: LogKey is the TokenKey; each signs one kind of message and must be a key of its own"))
	}
	if cfg.VRFKey != nil {
		// spec/transparency-v2.md §3.2: the VRF key is a key of its own.
		seed := cfg.VRFKey.Seed()
		for _, k := range []struct {
			name string
			key  ed25519.PrivateKey
		}{{"TokenKey", cfg.TokenKey}, {"LogKey", cfg.LogKey}} {
			if len(k.key) == ed25519.PrivateKeySize && subtle.ConstantTimeCompare(seed, k.key.Seed()) == 1 {
				errs = append(errs, fmt.Errorf("keyserver: VRFKey is the %s; it must be a key of its own", k.name))
			}
		}
		clear(seed)
	}
	if cfg.EpochInterval < 0 {
		errs = append(errs, fmt.Errorf("keyserver: EpochInterval %v is negative", cfg.EpochInterval))
	}
	seen := map[string]bool{api.AudiencePrefix + cfg.Name: true}
	for _, a := range cfg.RelayAudiences {
		if err := token.CheckAudience(a); err != nil {
			errs = append(errs, fmt.Errorf("keyserver: relay audience %q: %w", a, err))
		} else if seen[a] {
			errs = append(errs, fmt.Errorf("keyserver: relay audience %q repeated or equal to the key server's own", a))
		}
		seen[a] = true
	}
	limits := cfg.Limits.withDefaults()
	errs = append(errs, limits.check()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	s := &Server{
		name:      cfg.Name,
		audience:  api.AudiencePrefix + cfg.Name,
		store:     cfg.Store,
		tokenKey:  cfg.TokenKey,
		relayAuds: append([]string(nil), cfg.RelayAudiences...),
		invite:    cfg.InviteOnly,
		limits:    limits,
		log:       cfg.Logger,
		now:       cfg.Now,
		rand:      rand.Reader,
		stop:      make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.tokenPub = cfg.TokenKey.Public().(ed25519.PublicKey)
	s.tokenKID = token.KeyID(s.tokenPub)
	v, err := token.NewVerifier(s.audience, token.ClockSkew, s.tokenPub)
	if err != nil {
		errs = append(errs, fmt.Errorf("keyserver: TokenKey: %w", err))
	}
	s.verifier = v
	refresh := cfg.CheckpointRefresh
	if refresh == 0 {
		refresh = DefaultCheckpointRefresh
	}
	if refresh < 0 {
		errs = append(errs, fmt.Errorf("keyserver: CheckpointRefresh %v is negative", refresh))
	}
	var cosign *cosigner
	if cfg.VRFKey != nil {
		if s.dir, err = newDirectory(s, cfg, refresh); err != nil {
			errs = append(errs, err)
		}
	}
	if len(cfg.Witnesses) > 0 {
		interval := cfg.WitnessInterval
		if interval == 0 {
			interval = DefaultWitnessInterval
		}
		if interval < 0 {
			errs = append(errs, fmt.Errorf("keyserver: WitnessInterval %v is negative", interval))
		}
		// spec/transparency-v2.md §7.6: the witnesses cosign the
		// directory's log, the only log published. Without a directory
		// they are checked and left idle.
		clients, err := witnessClients(cfg.Name, cfg.LogKey, cfg.Witnesses)
		if err != nil {
			errs = append(errs, err)
		} else if s.dir != nil && interval > 0 {
			cosign = newCosigner(s.dir.cps, clients, interval)
		}
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		errs = append(errs, fmt.Errorf("keyserver: metrics: %w", err))
	}
	s.metrics = m
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.ipLimit = newLimiter(float64(limits.RequestsPerSecond), limits.RequestBurst)
	s.claimLim = newLimiter(float64(limits.ClaimsPerMinute)/60, limits.ClaimBurst)
	s.targetLim = newLimiter(float64(limits.TargetClaimsPerHour)/3600, limits.TargetClaimBurst)
	s.uploadLim = newLimiter(float64(limits.UploadsPerHour)/3600, limits.UploadBurst)
	s.lookupIPLim = newLimiter(float64(limits.AddressLookupsPerSecond), limits.AddressLookupBurst)
	s.lookupAcctLim = newLimiter(float64(limits.LookupsPerSecond), limits.LookupBurst)
	s.wellKnownBody, err = s.wellKnown()
	if err != nil {
		return nil, err
	}
	// spec/anonymous.md §4.3: a loop keeps the keys of this epoch and the
	// next in the store, from a minute after start; a request before
	// makes them itself.
	s.issuer = newIssuerKeys()
	s.bg.Go(s.sweep)
	s.bg.Go(s.runSendTokenKeys)
	if cosign != nil {
		s.bg.Go(func() { s.runCosigner(cosign, s.stop) })
	}
	if s.dir != nil {
		// A new directory's empty first epoch is committed before New
		// returns, so that a server starts with a checkpoint to prove
		// absence under, and the epochs of the changes it serves come
		// after it, whatever the timing (unless another process holds
		// the sequencer role: it commits it then).
		s.sequenceRound(context.Background())
		s.bg.Go(s.runSequencer)
	}
	return s, nil
}

// AddInvite creates an invite code, stores its SHA-256 hash and returns the
// code (spec/keyserver.md §5.2, §8).
func (s *Server) AddInvite(ctx context.Context) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("keyserver: invite: %w", err)
	}
	code := base64.RawURLEncoding.EncodeToString(b[:])
	h := inviteHash(code)
	if err := s.store.AddInvite(ctx, h[:]); err != nil {
		return "", fmt.Errorf("keyserver: invite: %w", err)
	}
	return code, nil
}

// inviteHash is what the store keeps of an invite code: SHA-256 of its text.
func inviteHash(code string) [32]byte { return sha256.Sum256([]byte(code)) }

// Close stops the server's background work. It does not close the Store.
func (s *Server) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.bg.Wait()
	return nil
}

// sweep forgets idle rate-limit buckets until Close.
func (s *Server) sweep() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			now := s.now()
			for _, l := range []*limiter{s.ipLimit, s.claimLim, s.targetLim, s.uploadLim, s.lookupIPLim, s.lookupAcctLim} {
				l.sweep(now)
			}
		}
	}
}
