package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/crypto/link"
	"github.com/sealpost/sealpost/relay"
	relaystore "github.com/sealpost/sealpost/relay/store"
	relaypg "github.com/sealpost/sealpost/relay/store/postgres"
	relaysqlite "github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/relay/wire"
)

// Services sealpostd can run (--services).
const (
	serviceKeyServer = "keyserver"
	serviceRelay     = "relay"
	DefaultServices  = serviceKeyServer + "," + serviceRelay + "," + serviceBlobs
)

// relaySQLiteFile is the relay's SQLite database in the data directory
// (with -wal and -shm files); with --postgres the relay's tables live in
// that database beside the key server's.
const relaySQLiteFile = "relay.db"

// relayAudiencePrefix is the relay's token audience prefix (spec/token.md
// §6, spec/relay.md §2.3): tokens for this relay have audience
// "relay:<name>".
const relayAudiencePrefix = "relay:"

// frameHeadroom is the least room a frame needs beyond one envelope
// (spec/relay.md §6: the overhead of one item is under 100 bytes).
const frameHeadroom = 1024

// Bounds of --relay-link-ttl (spec/relay.md §17.2, spec/linking.md §9).
// The relay does not announce its link TTL (§6): a new device keeps its
// link URI and offer valid for client.LinkTTL (10 minutes) whatever the
// relay's, so a shorter relay TTL would expire link mailboxes while their
// URI is still shown and linking still running. An existing device refuses
// an offer that expires more than link.MaxOfferLifetime (15 minutes)
// ahead of its clock, and the new device gives up at its offer's expiry,
// so a link mailbox kept longer serves no link and only holds one of
// --relay-max-links the longer.
const (
	minLinkTTL = 10 * time.Minute // client.LinkTTL; config_test.go checks it
	maxLinkTTL = link.MaxOfferLifetime
)

// services returns the set of services c names; c must be valid.
func (c *Config) services() (keyServer, relayOn bool) {
	for _, s := range strings.Split(c.Services, ",") {
		switch strings.TrimSpace(s) {
		case serviceKeyServer:
			keyServer = true
		case serviceRelay:
			relayOn = true
		}
	}
	return keyServer, relayOn
}

// validateRelay adds the problems with the relay settings to bad.
func (c *Config) validateRelay(bad func(flag, format string, args ...any)) {
	seen := map[string]bool{}
	for _, s := range strings.Split(c.Services, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s != serviceKeyServer && s != serviceRelay && s != serviceBlobs && s != servicePushgw:
			bad("services", "%q: want a comma-separated list of keyserver, relay, blobs and pushgw", s)
		case seen[s]:
			bad("services", "%q given twice", s)
		}
		seen[s] = true
	}
	ks, rl := c.services()
	if rl && !ks && len(c.RelayTokenKeys) == 0 {
		bad("relay-token-key", "missing: the relay alone needs the key server's token public key")
	}
	c.validateRevocationFeed(ks, rl, bad)
	for _, k := range c.RelayTokenKeys {
		if _, err := parseTokenKey(k); err != nil {
			bad("relay-token-key", "%v", err)
		}
	}
	if !rl {
		return
	}
	intIn := func(flag string, v, lo, hi int64) {
		if v < lo || v > hi {
			bad(flag, "%d: want %d to %d", v, lo, hi)
		}
	}
	intIn("relay-max-envelope", int64(c.RelayMaxEnvelope), 1024, 64<<20)
	if c.RelayMaxFrame != 0 {
		intIn("relay-max-frame", int64(c.RelayMaxFrame), int64(c.RelayMaxEnvelope)+frameHeadroom, 128<<20)
	}
	intIn("relay-queue-count", int64(c.RelayQueueCount), 1, 10_000_000)
	intIn("relay-queue-bytes", c.RelayQueueBytes, int64(c.RelayMaxEnvelope), 1<<40)
	intIn("relay-rate", int64(c.RelayRate), 1, 1_000_000)
	intIn("relay-burst", int64(c.RelayBurst), 1, 1_000_000)
	intIn("relay-delivery-window", int64(c.RelayDeliveryWindow), 1, 10_000)
	intIn("relay-conns-per-ip", int64(c.RelayConnsPerIP), 1, 10_000_000)
	intIn("relay-reconnect-rate", int64(c.RelayReconnectRate), 1, 1_000_000)
	intIn("relay-quota-share", int64(c.RelayQuotaShare), 1, 100)
	intIn("relay-quota-rate", int64(c.RelayQuotaRate), 1, 10_000_000)
	intIn("relay-quota-burst", int64(c.RelayQuotaBurst), 1, 10_000_000)
	intIn("relay-quota-bytes-rate", c.RelayQuotaBytesRate, 1, 1<<40)
	intIn("relay-quota-bytes-burst", c.RelayQuotaBytesBurst, int64(c.RelayMaxEnvelope), 1<<40)
	ephMax := relay.MaxEphemeralEnvelopeCap // a PostgreSQL NOTIFY payload (spec/relay.md §6)
	if c.RelayMaxEnvelope >= 1024 {
		ephMax = min(ephMax, c.RelayMaxEnvelope) // else reported above
	}
	intIn("relay-ephemeral-max-envelope", int64(c.RelayEphemeralMaxEnvelope), 1, int64(ephMax))
	intIn("relay-ephemeral-rate", int64(c.RelayEphemeralRate), 1, 1_000_000_000)
	intIn("relay-ephemeral-burst", int64(c.RelayEphemeralBurst), 1, 1_000_000_000)
	intIn("relay-ephemeral-pair-rate", int64(c.RelayEphemeralPairRate), 1, 1_000_000_000)
	intIn("relay-ephemeral-pair-burst", int64(c.RelayEphemeralPairBurst), 1, 1_000_000_000)
	intIn("relay-first-contact-per-hour", int64(c.RelayFirstContactPerHour), -1, 3_600_000)
	dur := func(flag, v string, lo, hi time.Duration) time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			bad(flag, "%q: want a duration from %v to %v", v, lo, hi)
			return 0
		}
		return d
	}
	intIn("relay-max-links", int64(c.RelayMaxLinks), 1, 100_000_000)
	intIn("relay-link-opens-per-minute", int64(c.RelayLinkOpensPerMinute), 1, 1_000_000)
	intIn("relay-link-open-burst", int64(c.RelayLinkOpenBurst), 1, 1_000_000)
	if d, err := time.ParseDuration(c.RelayLinkTTL); err != nil || d < minLinkTTL || d > maxLinkTTL || d%time.Millisecond != 0 {
		// The relay keeps a link mailbox's expiry in whole milliseconds
		// (spec/relay.md §17.2).
		bad("relay-link-ttl", "%q: want a duration from %v (the link lifetime clients use) to %v (the longest offer lifetime clients accept), in whole milliseconds", c.RelayLinkTTL, minLinkTTL, maxLinkTTL)
	}
	dur("relay-revocation-poll", c.RelayRevocationPoll, 10*time.Millisecond, time.Minute)
	dur("relay-ttl", c.RelayTTL, time.Second, 10*365*24*time.Hour)
	dur("relay-dedup-window", c.RelayDedupWindow, time.Second, 10*365*24*time.Hour)
	dur("relay-quota-retry", c.RelayQuotaRetry, time.Millisecond, time.Hour)
	dur("relay-reconnect-window", c.RelayReconnectWindow, 100*time.Millisecond, wire.MaxHint)
	hb := dur("relay-heartbeat", c.RelayHeartbeat, 100*time.Millisecond, time.Hour)
	if idle := dur("relay-idle-timeout", c.RelayIdleTimeout, 100*time.Millisecond, 24*time.Hour); idle != 0 && hb != 0 && idle < hb {
		bad("relay-idle-timeout", "%q is shorter than --relay-heartbeat %q", c.RelayIdleTimeout, c.RelayHeartbeat)
	}
}

// relayLimits returns the relay limits c sets; c must be valid.
func (c *Config) relayLimits() relay.Limits {
	d := func(v string) time.Duration { x, _ := time.ParseDuration(v); return x }
	l := relay.DefaultLimits()
	l.MaxEnvelope = c.RelayMaxEnvelope
	l.MaxFrame = c.RelayMaxFrame
	if l.MaxFrame == 0 {
		l.MaxFrame = c.RelayMaxEnvelope + 64<<10
	}
	l.MaxQueueCount = c.RelayQueueCount
	l.MaxQueueBytes = c.RelayQueueBytes
	l.TTL = d(c.RelayTTL)
	l.DedupWindow = d(c.RelayDedupWindow)
	l.SendsPerSecond = c.RelayRate
	l.SendBurst = c.RelayBurst
	l.DeliveryWindow = c.RelayDeliveryWindow
	l.HeartbeatInterval = d(c.RelayHeartbeat)
	l.IdleTimeout = d(c.RelayIdleTimeout)
	l.MaxConnsPerIP = c.RelayConnsPerIP
	l.QuotaSharePercent = c.RelayQuotaShare
	l.QuotaRate = c.RelayQuotaRate
	l.QuotaBurst = c.RelayQuotaBurst
	l.QuotaBytesRate = c.RelayQuotaBytesRate
	l.QuotaBytesBurst = c.RelayQuotaBytesBurst
	l.QuotaShareRetry = d(c.RelayQuotaRetry)
	l.ReconnectRate = c.RelayReconnectRate
	l.MaxReconnectWindow = d(c.RelayReconnectWindow)
	l.MaxEphemeralEnvelope = c.RelayEphemeralMaxEnvelope
	l.EphemeralPerSecond = c.RelayEphemeralRate
	l.EphemeralBurst = c.RelayEphemeralBurst
	l.EphemeralPairRate = c.RelayEphemeralPairRate
	l.EphemeralPairBurst = c.RelayEphemeralPairBurst
	l.FirstContactPerHour = c.RelayFirstContactPerHour
	l.LinkTTL = d(c.RelayLinkTTL)
	l.MaxLinks = c.RelayMaxLinks
	l.LinkOpensPerMinute = c.RelayLinkOpensPerMinute
	l.LinkOpenBurst = c.RelayLinkOpenBurst
	return l
}

// setRelayDefaults fills c's relay settings from relay.DefaultLimits.
func (c *Config) setRelayDefaults() {
	l := relay.DefaultLimits()
	c.Services = DefaultServices
	c.RelayMaxEnvelope = l.MaxEnvelope
	c.RelayQueueCount = l.MaxQueueCount
	c.RelayQueueBytes = l.MaxQueueBytes
	c.RelayTTL = l.TTL.String()
	c.RelayDedupWindow = l.DedupWindow.String()
	c.RelayRate = l.SendsPerSecond
	c.RelayBurst = l.SendBurst
	c.RelayDeliveryWindow = l.DeliveryWindow
	c.RelayHeartbeat = l.HeartbeatInterval.String()
	c.RelayIdleTimeout = l.IdleTimeout.String()
	c.RelayConnsPerIP = l.MaxConnsPerIP
	c.RelayQuotaShare = l.QuotaSharePercent
	c.RelayQuotaRate = l.QuotaRate
	c.RelayQuotaBurst = l.QuotaBurst
	c.RelayQuotaBytesRate = l.QuotaBytesRate
	c.RelayQuotaBytesBurst = l.QuotaBytesBurst
	c.RelayQuotaRetry = l.QuotaShareRetry.String()
	c.RelayReconnectRate = l.ReconnectRate
	c.RelayReconnectWindow = l.MaxReconnectWindow.String()
	c.RelayEphemeralMaxEnvelope = l.MaxEphemeralEnvelope
	c.RelayEphemeralRate = l.EphemeralPerSecond
	c.RelayEphemeralBurst = l.EphemeralBurst
	c.RelayEphemeralPairRate = l.EphemeralPairRate
	c.RelayEphemeralPairBurst = l.EphemeralPairBurst
	c.RelayFirstContactPerHour = l.FirstContactPerHour
	c.RelayLinkTTL = l.LinkTTL.String()
	c.RelayMaxLinks = l.MaxLinks
	c.RelayLinkOpensPerMinute = l.LinkOpensPerMinute
	c.RelayLinkOpenBurst = l.LinkOpenBurst
	c.RelayRevocationPoll = relay.DefaultRevocationPoll.String()
	c.RelayAnonymous = true
	c.setRelayPushDefaults()
}

// parseTokenKey reads a key server token public key given as base64url
// (the token_key of /.well-known/sealpost-keyserver) or as a file holding
// that text, a PEM "PUBLIC KEY" block, or the key server's token-key.pem
// (PEM "PRIVATE KEY"; only its public half is used).
func parseTokenKey(s string) (ed25519.PublicKey, error) {
	if b, err := base64.RawURLEncoding.Strict().DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	data, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("%q: neither a base64url Ed25519 public key nor a readable file: %v", s, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t := strings.TrimSpace(string(data))
		if b, err := base64.RawURLEncoding.Strict().DecodeString(t); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
		return nil, fmt.Errorf("%s: want a PEM key or a base64url Ed25519 public key", s)
	}
	var k any
	switch block.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: PEM %q block, want PUBLIC KEY or PRIVATE KEY", s, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", s, err)
	}
	switch k := k.(type) {
	case ed25519.PublicKey:
		return k, nil
	case ed25519.PrivateKey:
		return k.Public().(ed25519.PublicKey), nil
	}
	return nil, fmt.Errorf("%s: not an Ed25519 key", s)
}

// relayTokenKeys returns the token keys the relay accepts: the configured
// ones and, when the key server runs in this process, its own.
func relayTokenKeys(cfg *Config, own ed25519.PrivateKey) []ed25519.PublicKey {
	var keys []ed25519.PublicKey
	if own != nil {
		keys = append(keys, own.Public().(ed25519.PublicKey))
	}
	for _, s := range cfg.RelayTokenKeys {
		k, _ := parseTokenKey(s) // validated
		if !slices.ContainsFunc(keys, func(x ed25519.PublicKey) bool { return x.Equal(k) }) {
			keys = append(keys, k)
		}
	}
	return keys
}

// relayAudience is the audience of tokens for this process's relay.
func relayAudience(cfg *Config) string { return relayAudiencePrefix + cfg.Name }

// openRelayStore opens the relay's queue: PostgreSQL if configured, else
// relay.db in the data directory.
func openRelayStore(ctx context.Context, cfg *Config) (relaystore.Queue, string, error) {
	if cfg.Postgres != "" {
		q, err := relaypg.Open(ctx, cfg.Postgres)
		if err != nil {
			return nil, "", fmt.Errorf("opening the relay's PostgreSQL store: %w", err)
		}
		return q, "postgres", nil
	}
	path := filepath.Join(cfg.DataDir, relaySQLiteFile)
	q, err := relaysqlite.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("opening SQLite %s: %w", path, err)
	}
	return q, "sqlite", nil
}

// newRelay returns the relay of cfg; a nil sendTokens refuses anonymous
// connections (spec/relay.md §15.1).
func newRelay(cfg *Config, q relaystore.Queue, keys []ed25519.PublicKey, revs relay.RevocationSource, sendTokens relay.SendTokenVerifier, log *slog.Logger, reg prometheus.Registerer) (*relay.Server, error) {
	poll, _ := time.ParseDuration(cfg.RelayRevocationPoll) // validated
	push, err := relayPush(cfg)
	if err != nil {
		return nil, err
	}
	rs, err := relay.New(relay.Config{
		Name:           cfg.Name,
		Queue:          q,
		TokenKeys:      keys,
		Limits:         cfg.relayLimits(),
		Logger:         log.With("service", "relay"),
		Registerer:     reg,
		Revocations:    revs,
		RevocationPoll: poll,
		SendTokens:     sendTokens,
		Push:           push,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return rs, nil
}

// relayHealthy reports whether the relay's store answers a query: Stats of
// an address that has no mailbox answers ErrNoMailbox.
func relayHealthy(ctx context.Context, q relaystore.Queue) error {
	_, err := q.Stats(ctx, wire.FormatAddress("healthz", 1))
	if err == nil || errors.Is(err, relaystore.ErrNoMailbox) {
		return nil
	}
	return err
}
