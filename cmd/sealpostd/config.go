package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// Config is sealpostd's configuration. Its zero values are not the
// defaults: start from DefaultConfig. A JSON config file (--config) uses
// the json names; flags given on the command line override the file.
type Config struct {
	// DataDir holds the SQLite database, the self-signed certificate and
	// the token and log signing keys; created with mode 0700.
	DataDir string `json:"data_dir"`
	// Listen is the TLS address of both services, host:port; port 0 picks a
	// free port (the chosen address is printed).
	Listen string `json:"listen"`
	// Name is the server name: token audience "keyserver:<Name>",
	// key directory origin "<Name>/sealpost-kt/v2", and a name in the self-signed
	// certificate.
	Name string `json:"name"`
	// Postgres, when set, is a PostgreSQL connection string that replaces
	// the SQLite database.
	Postgres string `json:"postgres"`
	// TLSCert and TLSKey, both or neither, are PEM files that replace the
	// self-signed certificate.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	// InviteOnly makes registration need an invite code (sealpostd invite).
	InviteOnly bool `json:"invite_only"`
	// RelayAudiences are the extra token audiences, such as
	// "relay:localhost".
	RelayAudiences []string `json:"relay_audiences"`
	// LogLevel is debug, info, warn or error; LogFormat text or json.
	LogLevel  string `json:"log_level"`
	LogFormat string `json:"log_format"`
	// AdminListen, when set, is the plain-HTTP address of the admin
	// listener: /metrics, /debug/pprof/, /healthz and /readyz (admin.go).
	// Off by default; meant for loopback (127.0.0.1:9090) or a private
	// network, never the public one. /metrics and /debug/pprof are never on
	// the public TLS listener.
	AdminListen string `json:"admin_listen"`
	// MinFreeDisk is the free space, in bytes, the data directory's file
	// system must keep for /readyz to answer ready while a service uses
	// SQLite (health.go).
	MinFreeDisk int64 `json:"min_free_disk"`
	// ShutdownTimeout is how long in-flight requests get to finish after
	// SIGINT or SIGTERM, as a Go duration ("15s").
	ShutdownTimeout string `json:"shutdown_timeout"`
	// CheckpointRefresh is how old the served checkpoint's timestamp may
	// grow before the log key signs the tree again, as a Go duration
	// (spec/keyserver.md §9.3). Clients refuse checkpoints older than
	// 24 hours by default.
	CheckpointRefresh string `json:"checkpoint_refresh"`
	// EpochInterval is how often the key server sequences pending key-set
	// changes into a key directory epoch (spec/transparency-v2.md §5), as
	// a Go duration; a change also starts one at once.
	EpochInterval string `json:"epoch_interval"`
	// Witnesses are the transparency log witnesses each new checkpoint is
	// submitted to, each "URL VERIFIER-KEY" (spec/transparency-v2.md §7):
	// the witness's tlog-witness submission prefix and its cosignature
	// verifier key. Their cosignatures are served with the checkpoint.
	Witnesses []string `json:"witnesses"`

	// Key server rate limits (spec/keyserver.md §4); 0 takes the
	// keyserver.DefaultLimits value.
	KeyServerTargetClaims      int `json:"keyserver_target_claims"`
	KeyServerUploads           int `json:"keyserver_uploads"`
	KeyServerLookupRate        int `json:"keyserver_lookup_rate"`
	KeyServerAddressLookupRate int `json:"keyserver_address_lookup_rate"`
	// KeyServerSendTokensPerDay is how many send tokens each account may
	// be issued per day-epoch, KeyServerSendTokenBatch how many one
	// request may ask for, 1 to 100 (spec/keyserver.md §5.10).
	KeyServerSendTokensPerDay int `json:"keyserver_send_tokens_per_day"`
	KeyServerSendTokenBatch   int `json:"keyserver_send_token_batch"`

	// Services is a comma-separated list of the services to run:
	// "keyserver", "relay", "blobs" or several (all three by default).
	// They share the TLS listener; the relay serves the WebSocket path
	// /v1/relay, the blob service /v1/blobs/.
	Services string `json:"services"`
	// RelayTokenKeys are key server token public keys the relay accepts
	// (base64url, or files: PEM public key or the key server's
	// token-key.pem). Needed when the relay runs without the key server;
	// with it, the key server's own key is always accepted.
	RelayTokenKeys []string `json:"relay_token_keys"`
	// Relay limits (spec/relay.md §6); durations as Go durations.
	// RelayMaxFrame 0 means RelayMaxEnvelope + 64 KiB.
	RelayMaxEnvelope    int    `json:"relay_max_envelope"`
	RelayMaxFrame       int    `json:"relay_max_frame"`
	RelayQueueCount     int    `json:"relay_queue_count"`
	RelayQueueBytes     int64  `json:"relay_queue_bytes"`
	RelayTTL            string `json:"relay_ttl"`
	RelayDedupWindow    string `json:"relay_dedup_window"`
	RelayRate           int    `json:"relay_rate"`
	RelayBurst          int    `json:"relay_burst"`
	RelayDeliveryWindow int    `json:"relay_delivery_window"`
	RelayHeartbeat      string `json:"relay_heartbeat"`
	RelayIdleTimeout    string `json:"relay_idle_timeout"`
	RelayConnsPerIP     int    `json:"relay_conns_per_ip"`
	// Relay quotas per (sender, recipient) (spec/relay.md §6.1).
	RelayQuotaShare      int    `json:"relay_quota_share"`
	RelayQuotaRate       int    `json:"relay_quota_rate"`
	RelayQuotaBurst      int    `json:"relay_quota_burst"`
	RelayQuotaBytesRate  int64  `json:"relay_quota_bytes_rate"`
	RelayQuotaBytesBurst int64  `json:"relay_quota_bytes_burst"`
	RelayQuotaRetry      string `json:"relay_quota_retry"`
	// Relay ephemeral sends (spec/relay.md §7.4): the largest envelope,
	// the bucket per sending device and per (sender, recipient account).
	RelayEphemeralMaxEnvelope int `json:"relay_ephemeral_max_envelope"`
	RelayEphemeralRate        int `json:"relay_ephemeral_rate"`
	RelayEphemeralBurst       int `json:"relay_ephemeral_burst"`
	RelayEphemeralPairRate    int `json:"relay_ephemeral_pair_rate"`
	RelayEphemeralPairBurst   int `json:"relay_ephemeral_pair_burst"`
	// RelayFirstContactPerHour is the first-contact allowance of a device
	// in contacts-only mode (spec/relay.md §15.8); -1 admits none.
	RelayFirstContactPerHour int `json:"relay_first_contact_per_hour"`
	// Relay link mailboxes (spec/relay.md §17, linking a new device): a
	// link mailbox's lifetime as a Go duration (RelayLinkTTL, from
	// minLinkTTL to maxLinkTTL), the most live at once, and the bucket of
	// AuthLink frames without a token per client IP address (§17.6).
	RelayLinkTTL            string `json:"relay_link_ttl"`
	RelayMaxLinks           int    `json:"relay_max_links"`
	RelayLinkOpensPerMinute int    `json:"relay_link_opens_per_minute"`
	RelayLinkOpenBurst      int    `json:"relay_link_open_burst"`
	// Reconnect pacing (spec/relay.md §2.5): upgrades admitted per second
	// and the largest reconnect window announced, as a Go duration.
	RelayReconnectRate   int    `json:"relay_reconnect_rate"`
	RelayReconnectWindow string `json:"relay_reconnect_window"`
	// RelayRevocationPoll is how often the relay reads the key server's
	// revocation feed (spec/relay.md §2.4), as a Go duration; a revoked
	// device's connections close within about this long.
	RelayRevocationPoll string `json:"relay_revocation_poll"`
	// RelayKeyServerURL is the https://host[:port] of the key server whose
	// revocation feed the relay reads when it runs without the key server
	// (then required; "off" runs without the feed, so a revoked device's
	// token works until it expires). With the key server in this process
	// the relay reads its feed directly and this must be empty.
	RelayKeyServerURL string `json:"relay_keyserver_url"`
	// RelayKeyServerFingerprint pins the key server's TLS certificate by
	// its SHA-256 fingerprint (the one sealpostd prints), instead of
	// checking it against CAs. RelayKeyServerCA is a PEM file of CA
	// certificates to check it against instead of the system's. At most
	// one of the two.
	RelayKeyServerFingerprint string `json:"relay_keyserver_fingerprint"`
	RelayKeyServerCA          string `json:"relay_keyserver_ca"`
	// RelayAnonymous lets the relay take anonymous sends paid with send
	// tokens (spec/relay.md §15), verified with the key server's issuer
	// keys: its own in this process, else read from RelayKeyServerURL
	// (none with "off"). False refuses anonymous connections
	// (anonymous_disabled).
	RelayAnonymous bool `json:"relay_anonymous"`

	// BlobsTokenKeys are key server token public keys the blob service
	// accepts, as RelayTokenKeys: needed when it runs without the key
	// server; with it, the key server's own key is always accepted.
	BlobsTokenKeys []string `json:"blobs_token_keys"`
	// Blob service limits (spec/attachments.md §4.7): the account quota,
	// the largest blob and the part size in bytes; a blob's and an idle
	// upload's life as Go durations.
	BlobsQuota     int64  `json:"blobs_quota"`
	BlobsMaxSize   int64  `json:"blobs_max_size"`
	BlobsPartSize  int64  `json:"blobs_part_size"`
	BlobsTTL       string `json:"blobs_ttl"`
	BlobsUploadTTL string `json:"blobs_upload_ttl"`
	// BlobsS3Endpoint, when set, stores the blob service's bytes in this
	// S3-compatible server (host[:port]) instead of <data-dir>/blobs; the
	// bucket must exist. The secret key may come from
	// $SEALPOST_BLOBS_S3_SECRET_KEY instead, to keep it off the command
	// line. BlobsS3CA is a PEM file of CA certificates to check the
	// server's against (with BlobsS3Secure, HTTPS, the default).
	BlobsS3Endpoint  string `json:"blobs_s3_endpoint"`
	BlobsS3Bucket    string `json:"blobs_s3_bucket"`
	BlobsS3Prefix    string `json:"blobs_s3_prefix"`
	BlobsS3AccessKey string `json:"blobs_s3_access_key"`
	BlobsS3SecretKey string `json:"blobs_s3_secret_key"`
	BlobsS3Region    string `json:"blobs_s3_region"`
	BlobsS3Secure    bool   `json:"blobs_s3_secure"`
	BlobsS3CA        string `json:"blobs_s3_ca"`

	// The push gateway (pushgw.go).
	PushgwConfig
	// The relay's wake-ups (relaypush.go).
	RelayPushConfig
	// The web client (web.go).
	WebConfig

	// GCPercent, if not 0, sets the Go garbage collector's target
	// percentage (as GOGC does; -1 turns it off, for use with GOMEMLIMIT).
	// 0 leaves the runtime's setting: $GOGC, else 100. See gc.go.
	GCPercent int `json:"gc_percent"`
}

// Defaults: a fresh machine with no flags serves on loopback only.
const (
	DefaultDataDir         = "sealpost-data"
	DefaultListen          = "127.0.0.1:8443"
	DefaultName            = "localhost"
	DefaultShutdownTimeout = "15s"
	// DefaultMinFreeDisk leaves SQLite room for its WAL and a checkpoint.
	DefaultMinFreeDisk = 64 << 20
	// DefaultCheckpointRefresh is keyserver.DefaultCheckpointRefresh.
	DefaultCheckpointRefresh = "10m"
	// DefaultEpochInterval is keyserver.DefaultEpochInterval.
	DefaultEpochInterval = "1s"
)

// maxNameLen keeps "keyserver:<Name>" within token.MaxAudienceLen.
const maxNameLen = token.MaxAudienceLen - len(api.AudiencePrefix)

// DefaultConfig returns the configuration sealpostd runs with when given
// no flags and no file.
func DefaultConfig() Config {
	c := Config{
		DataDir:           DefaultDataDir,
		Listen:            DefaultListen,
		Name:              DefaultName,
		LogLevel:          "info",
		LogFormat:         "text",
		ShutdownTimeout:   DefaultShutdownTimeout,
		MinFreeDisk:       DefaultMinFreeDisk,
		CheckpointRefresh: DefaultCheckpointRefresh,
		EpochInterval:     DefaultEpochInterval,
	}
	c.setRelayDefaults()
	c.setBlobsDefaults()
	return c
}

// parseConfig builds the configuration from DefaultConfig, then the file
// named by --config if any, then the flags given in args. It does not
// validate the result; a malformed flag or file is an error.
func parseConfig(name string, args []string, stderr io.Writer) (*Config, error) {
	// First pass: find --config, and fail early on unknown flags.
	var scratch Config
	var file string
	pre := newFlagSet(name, &scratch, &file)
	pre.SetOutput(io.Discard)
	if err := pre.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			// Print the usage with the real defaults below.
			cfg := DefaultConfig()
			fs := newFlagSet(name, &cfg, &file)
			fs.SetOutput(stderr)
			fs.Usage()
		} else {
			fmt.Fprintf(stderr, "%s: %v\nRun '%s -h' for the flags.\n", name, err, name)
		}
		return nil, err
	}
	if pre.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", pre.Args())
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, err
	}
	cfg := DefaultConfig()
	if file != "" {
		if err := cfg.load(file); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return nil, err
		}
	}
	cfg.blobsSecretFromEnv()
	fs := newFlagSet(name, &cfg, &file)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// load reads a JSON config file over c. Unknown fields and trailing data
// are errors.
func (c *Config) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if dec.More() {
		return fmt.Errorf("config file %s: data after the JSON object", path)
	}
	return nil
}

// newFlagSet binds sealpostd's flags to c and file, with c's current
// values as defaults.
func newFlagSet(name string, c *Config, file *string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(file, "config", "", "JSON config `file` (flags override it)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data `directory`: SQLite database, certificate, signing keys")
	fs.StringVar(&c.Listen, "listen", c.Listen, "TLS `address` (host:port) of the key server and the relay")
	fs.StringVar(&c.Name, "name", c.Name, "server `name`: token audience, log origin, certificate name")
	fs.StringVar(&c.Postgres, "postgres", c.Postgres, "PostgreSQL connection `string` (instead of SQLite)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate PEM `file` (instead of self-signed; needs --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key PEM `file`")
	fs.BoolVar(&c.InviteOnly, "invite-only", c.InviteOnly, "registration needs an invite code (see 'sealpostd invite')")
	fs.Var(&listFlag{list: &c.RelayAudiences}, "relay-audience", "extra token `audience`, e.g. relay:localhost (repeatable)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log `level`: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log `format`: text or json")
	fs.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "plain-HTTP admin `address` for /metrics, /debug/pprof/, /healthz and /readyz, e.g. 127.0.0.1:9090 (default off; keep it off public networks)")
	fs.Int64Var(&c.MinFreeDisk, "min-free-disk", c.MinFreeDisk, "`bytes` the data directory's file system must keep free for /readyz to answer ready (SQLite)")
	fs.StringVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long in-flight requests get at shutdown")
	fs.Var(&listFlag{list: &c.Witnesses}, "witness", "key server: a transparency log `witness` to submit checkpoints to, as \"URL VERIFIER-KEY\" (repeatable; spec/transparency-v2.md §7)")
	fs.StringVar(&c.CheckpointRefresh, "checkpoint-refresh", c.CheckpointRefresh, "key server: sign an unchanged log again once its checkpoint is this old (clients refuse checkpoints older than 24h)")
	fs.StringVar(&c.EpochInterval, "epoch-interval", c.EpochInterval, "key server: how often pending key-set changes are sequenced into a key directory epoch (a change also starts one at once)")
	fs.IntVar(&c.KeyServerTargetClaims, "keyserver-target-claims", c.KeyServerTargetClaims, "key server: claims of one account served one-time prekeys per hour, whoever claims (0: 60)")
	fs.IntVar(&c.KeyServerUploads, "keyserver-uploads", c.KeyServerUploads, "key server: prekey uploads per device per hour (0: 60)")
	fs.IntVar(&c.KeyServerLookupRate, "keyserver-lookup-rate", c.KeyServerLookupRate, "key server: lookups per second per account, for lookups with a token (0: 5)")
	fs.IntVar(&c.KeyServerAddressLookupRate, "keyserver-address-lookup-rate", c.KeyServerAddressLookupRate, "key server: lookups per second per client address (0: 20)")
	fs.IntVar(&c.KeyServerSendTokensPerDay, "keyserver-send-tokens-per-day", c.KeyServerSendTokensPerDay, "key server: send tokens issued per account per day-epoch (0: 500)")
	fs.IntVar(&c.KeyServerSendTokenBatch, "keyserver-send-token-batch", c.KeyServerSendTokenBatch, "key server: most send tokens one issuance request may ask for, 1 to 100 (0: 100)")
	fs.StringVar(&c.Services, "services", c.Services, "services to run: `list` of keyserver, relay, blobs and pushgw, comma-separated")
	fs.Var(&listFlag{list: &c.RelayTokenKeys}, "relay-token-key", "key server token public `key` the relay accepts: base64url, or a file (PEM, or token-key.pem); repeatable; needed for the relay alone")
	fs.IntVar(&c.RelayMaxEnvelope, "relay-max-envelope", c.RelayMaxEnvelope, "relay: largest envelope, `bytes`")
	fs.IntVar(&c.RelayMaxFrame, "relay-max-frame", c.RelayMaxFrame, "relay: largest frame, `bytes` (0: max envelope + 64 KiB)")
	fs.IntVar(&c.RelayQueueCount, "relay-queue-count", c.RelayQueueCount, "relay: most envelopes queued per device")
	fs.Int64Var(&c.RelayQueueBytes, "relay-queue-bytes", c.RelayQueueBytes, "relay: most envelope `bytes` queued per device")
	fs.StringVar(&c.RelayTTL, "relay-ttl", c.RelayTTL, "relay: how long an undelivered envelope is kept")
	fs.StringVar(&c.RelayDedupWindow, "relay-dedup-window", c.RelayDedupWindow, "relay: how long a send's answer is kept for retries")
	fs.IntVar(&c.RelayRate, "relay-rate", c.RelayRate, "relay: Send frames per second per device")
	fs.IntVar(&c.RelayBurst, "relay-burst", c.RelayBurst, "relay: burst of Send frames per device")
	fs.IntVar(&c.RelayDeliveryWindow, "relay-delivery-window", c.RelayDeliveryWindow, "relay: envelopes delivered and not yet acked per connection")
	fs.StringVar(&c.RelayHeartbeat, "relay-heartbeat", c.RelayHeartbeat, "relay: ping interval")
	fs.StringVar(&c.RelayIdleTimeout, "relay-idle-timeout", c.RelayIdleTimeout, "relay: close a connection silent this long")
	fs.IntVar(&c.RelayConnsPerIP, "relay-conns-per-ip", c.RelayConnsPerIP, "relay: most open connections per client IP address")
	fs.IntVar(&c.RelayQuotaShare, "relay-quota-share", c.RelayQuotaShare, "relay: `percent` of each device's queue caps one sending account may hold")
	fs.IntVar(&c.RelayQuotaRate, "relay-quota-rate", c.RelayQuotaRate, "relay: envelopes per second from one account to another")
	fs.IntVar(&c.RelayQuotaBurst, "relay-quota-burst", c.RelayQuotaBurst, "relay: burst of envelopes from one account to another")
	fs.Int64Var(&c.RelayQuotaBytesRate, "relay-quota-bytes-rate", c.RelayQuotaBytesRate, "relay: envelope `bytes` per second from one account to another")
	fs.Int64Var(&c.RelayQuotaBytesBurst, "relay-quota-bytes-burst", c.RelayQuotaBytesBurst, "relay: burst of envelope `bytes` from one account to another")
	fs.StringVar(&c.RelayQuotaRetry, "relay-quota-retry", c.RelayQuotaRetry, "relay: retry-after of an envelope over its sender's share of a mailbox")
	fs.IntVar(&c.RelayEphemeralMaxEnvelope, "relay-ephemeral-max-envelope", c.RelayEphemeralMaxEnvelope, "relay: largest ephemeral envelope (typing, presence), `bytes`; larger ones are dropped (spec/relay.md §7.4)")
	fs.IntVar(&c.RelayEphemeralRate, "relay-ephemeral-rate", c.RelayEphemeralRate, "relay: ephemeral items per second per device")
	fs.IntVar(&c.RelayEphemeralBurst, "relay-ephemeral-burst", c.RelayEphemeralBurst, "relay: burst of ephemeral items per device")
	fs.IntVar(&c.RelayEphemeralPairRate, "relay-ephemeral-pair-rate", c.RelayEphemeralPairRate, "relay: ephemeral items per second from one account to another")
	fs.IntVar(&c.RelayEphemeralPairBurst, "relay-ephemeral-pair-burst", c.RelayEphemeralPairBurst, "relay: burst of ephemeral items from one account to another")
	fs.IntVar(&c.RelayFirstContactPerHour, "relay-first-contact-per-hour", c.RelayFirstContactPerHour, "relay: anonymous envelopes without the access key admitted per hour to a device that takes only its contacts' (spec/relay.md §15.8); -1: none")
	fs.StringVar(&c.RelayLinkTTL, "relay-link-ttl", c.RelayLinkTTL, fmt.Sprintf("relay: lifetime of a link mailbox (linking a new device, spec/relay.md §17.2), %[1]dm to %[2]dm: not shorter than the %[1]dm clients keep a link open (else links die while in use), not longer than the %[2]dm an existing device accepts an offer for (longer serves no link)", minLinkTTL/time.Minute, maxLinkTTL/time.Minute))
	fs.IntVar(&c.RelayMaxLinks, "relay-max-links", c.RelayMaxLinks, "relay: most live link mailboxes; opening one more is rate_limited (spec/relay.md §17.6)")
	fs.IntVar(&c.RelayLinkOpensPerMinute, "relay-link-opens-per-minute", c.RelayLinkOpensPerMinute, "relay: link mailboxes opened without a token per minute per client IP address, per node (spec/relay.md §17.6)")
	fs.IntVar(&c.RelayLinkOpenBurst, "relay-link-open-burst", c.RelayLinkOpenBurst, "relay: burst of link mailboxes opened without a token per client IP address")
	fs.IntVar(&c.RelayReconnectRate, "relay-reconnect-rate", c.RelayReconnectRate, "relay: WebSocket upgrades admitted per second; beyond it 503 with a retry hint (spec/relay.md §2.5)")
	fs.StringVar(&c.RelayReconnectWindow, "relay-reconnect-window", c.RelayReconnectWindow, "relay: the longest window over which clients are told to spread their reconnects")
	fs.StringVar(&c.RelayRevocationPoll, "relay-revocation-poll", c.RelayRevocationPoll, "relay: how often to read the key server's revocation feed")
	fs.StringVar(&c.RelayKeyServerURL, "relay-keyserver-url", c.RelayKeyServerURL, "relay alone: https://host[:port] `URL` of the key server whose revocation feed and send-token keys it reads (required; 'off' to run without both)")
	fs.StringVar(&c.RelayKeyServerFingerprint, "relay-keyserver-fingerprint", c.RelayKeyServerFingerprint, "relay alone: pin the key server's TLS certificate by its SHA-256 `fingerprint`")
	fs.StringVar(&c.RelayKeyServerCA, "relay-keyserver-ca", c.RelayKeyServerCA, "relay alone: PEM `file` of CA certificates for the key server's TLS certificate (default: the system's)")
	fs.BoolVar(&c.RelayAnonymous, "relay-anonymous", c.RelayAnonymous, "relay: take anonymous sends paid with send tokens, verified with the key server's issuer keys (in process, else from --relay-keyserver-url); false refuses them")
	fs.Var(&listFlag{list: &c.BlobsTokenKeys}, "blobs-token-key", "key server token public `key` the blob service accepts: base64url, or a file (PEM, or token-key.pem); repeatable; needed for the blob service without the key server")
	fs.Int64Var(&c.BlobsQuota, "blobs-quota", c.BlobsQuota, "blob service: `bytes` an account may hold, stored and being uploaded")
	fs.Int64Var(&c.BlobsMaxSize, "blobs-max-size", c.BlobsMaxSize, "blob service: largest blob, `bytes` of ciphertext")
	fs.Int64Var(&c.BlobsPartSize, "blobs-part-size", c.BlobsPartSize, "blob service: upload part size, `bytes` (5 MiB to 64 MiB)")
	fs.StringVar(&c.BlobsTTL, "blobs-ttl", c.BlobsTTL, "blob service: a blob's life after its upload or its last dedup hit")
	fs.StringVar(&c.BlobsUploadTTL, "blobs-upload-ttl", c.BlobsUploadTTL, "blob service: an unfinished upload's life after its last part")
	fs.StringVar(&c.BlobsS3Endpoint, "blobs-s3-endpoint", c.BlobsS3Endpoint, "blob service: S3-compatible server `host[:port]` to store blobs in (default: <data-dir>/blobs)")
	fs.StringVar(&c.BlobsS3Bucket, "blobs-s3-bucket", c.BlobsS3Bucket, "blob service: S3 `bucket` (must exist)")
	fs.StringVar(&c.BlobsS3Prefix, "blobs-s3-prefix", c.BlobsS3Prefix, "blob service: S3 object name `prefix`, e.g. blobs/")
	fs.StringVar(&c.BlobsS3AccessKey, "blobs-s3-access-key", c.BlobsS3AccessKey, "blob service: S3 access `key` id")
	fs.StringVar(&c.BlobsS3SecretKey, "blobs-s3-secret-key", c.BlobsS3SecretKey, "blob service: S3 secret `key` (better: $"+blobsSecretEnv+", kept off the command line)")
	fs.StringVar(&c.BlobsS3Region, "blobs-s3-region", c.BlobsS3Region, "blob service: S3 `region` (default: asked of the server)")
	fs.BoolVar(&c.BlobsS3Secure, "blobs-s3-secure", c.BlobsS3Secure, "blob service: reach S3 over HTTPS")
	fs.StringVar(&c.BlobsS3CA, "blobs-s3-ca", c.BlobsS3CA, "blob service: PEM `file` of CA certificates for the S3 server (default: the system's)")
	c.pushgwFlags(fs)
	c.relayPushFlags(fs)
	c.webFlags(fs)
	fs.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "Go GC target `percent`, as GOGC (0: $GOGC, else 100; -1: off, with GOMEMLIMIT); 400 suits a busy relay, at the cost of memory)")
	return fs
}

// listFlag is a repeatable string flag; its first use on the command line
// replaces the list from the config file.
type listFlag struct {
	list *[]string
	set  bool
}

func (f *listFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f *listFlag) Set(v string) error {
	if !f.set {
		*f.list = nil
		f.set = true
	}
	*f.list = append(*f.list, v)
	return nil
}

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--"+flag+": "+format, args...))
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data-dir", "empty")
	}
	if err := checkAddr(c.Listen); err != nil {
		bad("listen", "%q: %v", c.Listen, err)
	}
	if c.AdminListen != "" {
		if err := checkAddr(c.AdminListen); err != nil {
			bad("admin-listen", "%q: %v", c.AdminListen, err)
		} else if c.AdminListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			bad("admin-listen", "%q is also --listen", c.AdminListen)
		}
	}
	if c.MinFreeDisk < 0 {
		bad("min-free-disk", "%d: want 0 or more bytes", c.MinFreeDisk)
	}
	if c.KeyServerSendTokensPerDay < 0 {
		bad("keyserver-send-tokens-per-day", "%d: want 0 (the default) or more", c.KeyServerSendTokensPerDay)
	}
	if c.KeyServerSendTokenBatch < 0 || c.KeyServerSendTokenBatch > sendtoken.MaxBatchSize {
		bad("keyserver-send-token-batch", "%d: want 0 (the default) to %d", c.KeyServerSendTokenBatch, sendtoken.MaxBatchSize)
	}
	if !validName(c.Name) {
		bad("name", "%q: want 1 to %d bytes of a-z, 0-9, '.' and '-'", c.Name, maxNameLen)
	}
	if c.Postgres != "" && strings.TrimSpace(c.Postgres) == "" {
		bad("postgres", "blank connection string")
	}
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		bad("tls-key", "missing: --tls-cert needs --tls-key")
	case c.TLSCert == "" && c.TLSKey != "":
		bad("tls-cert", "missing: --tls-key needs --tls-cert")
	case c.TLSCert != "":
		for _, f := range []struct{ flag, path string }{{"tls-cert", c.TLSCert}, {"tls-key", c.TLSKey}} {
			if _, err := os.Stat(f.path); err != nil {
				bad(f.flag, "%v", err)
			}
		}
	}
	own := api.AudiencePrefix + c.Name
	for i, a := range c.RelayAudiences {
		switch {
		case token.CheckAudience(a) != nil:
			bad("relay-audience", "%q: want 1 to %d printable ASCII bytes, no spaces", a, token.MaxAudienceLen)
		case a == own:
			bad("relay-audience", "%q is the key server's own audience", a)
		case slices.Contains(c.RelayAudiences[:i], a):
			bad("relay-audience", "%q given twice", a)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("log-level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log-format", "%q: want text or json", c.LogFormat)
	}
	if d, err := time.ParseDuration(c.ShutdownTimeout); err != nil || d <= 0 || d > 10*time.Minute {
		bad("shutdown-timeout", "%q: want a duration in (0, 10m], such as 15s", c.ShutdownTimeout)
	}
	if d, err := time.ParseDuration(c.CheckpointRefresh); err != nil || d < time.Second || d > 12*time.Hour {
		bad("checkpoint-refresh", "%q: want a duration in [1s, 12h], such as 10m", c.CheckpointRefresh)
	}
	if d, err := time.ParseDuration(c.EpochInterval); err != nil || d < 10*time.Millisecond || d > time.Hour {
		bad("epoch-interval", "%q: want a duration in [10ms, 1h], such as 1s", c.EpochInterval)
	}
	if _, err := c.witnesses(); err != nil {
		bad("witness", "%v", err)
	}
	c.validateRelay(bad)
	ks, _ := c.services()
	c.validateBlobs(ks, bad)
	c.validatePushgw(bad)
	c.validateRelayPush(bad)
	c.validateWeb(bad)
	if c.GCPercent < -1 || c.GCPercent > maxGCPercent {
		bad("gc-percent", "%d: want -1 (off), 0 (runtime default) or 1 to %d", c.GCPercent, maxGCPercent)
	}
	return errors.Join(errs...)
}

// checkAddr checks a host:port listen address with a numeric port.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(n, 10) {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// validName reports whether name is a host name we accept as server name.
func validName(name string) bool {
	if len(name) == 0 || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '-' {
			return false
		}
	}
	return token.CheckServerName(name) == nil
}

// logLevel returns the parsed LogLevel; c must be valid.
func (c *Config) logLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevel))
	return l
}

// checkpointRefresh returns the parsed CheckpointRefresh; c must be valid.
func (c *Config) checkpointRefresh() time.Duration {
	d, _ := time.ParseDuration(c.CheckpointRefresh)
	return d
}

// epochInterval returns the parsed EpochInterval; c must be valid.
func (c *Config) epochInterval() time.Duration {
	d, _ := time.ParseDuration(c.EpochInterval)
	return d
}

// shutdownTimeout returns the parsed ShutdownTimeout; c must be valid.
func (c *Config) shutdownTimeout() time.Duration {
	d, _ := time.ParseDuration(c.ShutdownTimeout)
	return d
}

// witnesses returns the parsed Witnesses: each a URL (http or https, a
// host) and a cosignature verifier key (kt.ParseWitness), no key twice.
func (c *Config) witnesses() ([]keyserver.WitnessConfig, error) {
	var ws []keyserver.WitnessConfig
	for _, w := range c.Witnesses {
		u, vkey, ok := strings.Cut(strings.TrimSpace(w), " ")
		vkey = strings.TrimSpace(vkey)
		if !ok || vkey == "" {
			return nil, fmt.Errorf("%q: want \"URL VERIFIER-KEY\"", w)
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, fmt.Errorf("%q: the URL must be http(s)://host[:port][/prefix]", w)
		}
		if _, err := kt.ParseWitness(vkey); err != nil {
			return nil, fmt.Errorf("%q: %v", w, err)
		}
		for _, o := range ws {
			if o.VerifierKey == vkey {
				return nil, fmt.Errorf("%q: the same witness key twice", w)
			}
		}
		ws = append(ws, keyserver.WitnessConfig{URL: u, VerifierKey: vkey})
	}
	return ws, nil
}
