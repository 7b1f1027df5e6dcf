package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/crypto/link"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
	"github.com/sealpost/sealpost/relay"
)

func TestDefaultConfig(t *testing.T) {
	var stderr bytes.Buffer
	cfg, err := parseConfig("sealpostd", nil, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(*cfg, want) {
		t.Errorf("no flags: %+v, want %+v", *cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("default config invalid: %v", err)
	}
	if cfg.Listen != "127.0.0.1:8443" || cfg.DataDir != "sealpost-data" || cfg.AdminListen != "" || cfg.MinFreeDisk != DefaultMinFreeDisk || cfg.Postgres != "" {
		t.Errorf("defaults changed: %+v", *cfg)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{
		DataDir:           " ",
		Listen:            "127.0.0.1",
		Name:              "Bad Name",
		Postgres:          "  ",
		TLSCert:           "/nonexistent/cert.pem",
		RelayAudiences:    []string{"relay:x", "relay:x", "keyserver:Bad Name", "with space"},
		LogLevel:          "loud",
		LogFormat:         "xml",
		AdminListen:       "localhost:http",
		MinFreeDisk:       -1,
		ShutdownTimeout:   "forever",
		CheckpointRefresh: "never",
		EpochInterval:     "whenever",
		Services:          "keyserver", // relay settings: TestValidateRelay
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	msg := err.Error()
	for _, want := range []string{
		"--data-dir", "--listen", "--name", "--postgres", "--tls-key",
		`--relay-audience: "relay:x" given twice`, `--relay-audience: "with space"`,
		"--log-level", "--log-format", "--admin-listen", "--min-free-disk", "--shutdown-timeout", "--checkpoint-refresh", "--epoch-interval",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems lack %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != 15 {
		t.Errorf("%d problems reported, want 15:\n%s", n, msg)
	}
}

func TestValidateChecks(t *testing.T) {
	dir := t.TempDir()
	w1, w2 := kttest.WitnessKey(t, "w1.example", nil), kttest.WitnessKey(t, "w2.example", nil)
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		bad  string // flag reported, "" for valid
	}{
		{"ipv6 listen", func(c *Config) { c.Listen = "[::1]:8443" }, ""},
		{"epoch interval", func(c *Config) { c.EpochInterval = "250ms" }, ""},
		{"epoch interval too short", func(c *Config) { c.EpochInterval = "1ms" }, "--epoch-interval"},
		{"epoch interval too long", func(c *Config) { c.EpochInterval = "2h" }, "--epoch-interval"},
		{"epoch interval not a duration", func(c *Config) { c.EpochInterval = "soon" }, "--epoch-interval"},
		{"any-address listen", func(c *Config) { c.Listen = ":0" }, ""},
		{"port too large", func(c *Config) { c.Listen = "127.0.0.1:65536" }, "--listen"},
		{"named port", func(c *Config) { c.Listen = "127.0.0.1:https" }, "--listen"},
		{"admin equals listen", func(c *Config) { c.AdminListen = c.Listen }, "--admin-listen"},
		{"admin on", func(c *Config) { c.AdminListen = "127.0.0.1:9090" }, ""},
		{"admin named port", func(c *Config) { c.AdminListen = "127.0.0.1:http" }, "--admin-listen"},
		{"no free disk needed", func(c *Config) { c.MinFreeDisk = 0 }, ""},
		{"negative free disk", func(c *Config) { c.MinFreeDisk = -1 }, "--min-free-disk"},
		{"send tokens per day", func(c *Config) { c.KeyServerSendTokensPerDay = 50 }, ""},
		{"negative send tokens per day", func(c *Config) { c.KeyServerSendTokensPerDay = -1 }, "--keyserver-send-tokens-per-day"},
		{"send token batch", func(c *Config) { c.KeyServerSendTokenBatch = 100 }, ""},
		{"send token batch too large", func(c *Config) { c.KeyServerSendTokenBatch = 101 }, "--keyserver-send-token-batch"},
		{"negative send token batch", func(c *Config) { c.KeyServerSendTokenBatch = -1 }, "--keyserver-send-token-batch"},
		{"dns name", func(c *Config) { c.Name = "keys.example.org" }, ""},
		{"upper-case name", func(c *Config) { c.Name = "Keys.example.org" }, "--name"},
		{"empty name", func(c *Config) { c.Name = "" }, "--name"},
		{"long name", func(c *Config) { c.Name = strings.Repeat("a", maxNameLen+1) }, "--name"},
		{"longest name", func(c *Config) { c.Name = strings.Repeat("a", maxNameLen) }, ""},
		{"key without cert", func(c *Config) { c.TLSKey = certFile }, "--tls-cert"},
		{"cert and missing key", func(c *Config) { c.TLSCert, c.TLSKey = certFile, certFile+".missing" }, "--tls-key"},
		{"cert and key", func(c *Config) { c.TLSCert, c.TLSKey = certFile, certFile }, ""},
		{"own audience", func(c *Config) { c.RelayAudiences = []string{"keyserver:localhost"} }, "--relay-audience"},
		{"relay audience", func(c *Config) { c.RelayAudiences = []string{"relay:localhost"} }, ""},
		{"json logs", func(c *Config) { c.LogFormat, c.LogLevel = "json", "debug" }, ""},
		{"zero shutdown", func(c *Config) { c.ShutdownTimeout = "0s" }, "--shutdown-timeout"},
		{"postgres", func(c *Config) { c.Postgres = "postgres://u@h/db" }, ""},
		{"key server alone", func(c *Config) { c.Services = "keyserver" }, ""},
		{"relay alone without key", func(c *Config) { c.Services, c.RelayKeyServerURL = "relay", "off" }, "--relay-token-key"},
		{"relay alone with key", func(c *Config) {
			c.Services, c.RelayTokenKeys = "relay", []string{"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
			c.RelayKeyServerURL, c.RelayKeyServerFingerprint = "https://keys.example:8443", strings.Repeat("ab", 32)
		}, ""},
		{"relay alone without feed", func(c *Config) {
			c.Services, c.RelayTokenKeys = "relay", []string{"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
		}, "--relay-keyserver-url"},
		{"relay alone feed not https", func(c *Config) {
			c.Services, c.RelayTokenKeys = "relay", []string{"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
			c.RelayKeyServerURL = "http://keys.example"
		}, "--relay-keyserver-url"},
		{"relay alone feed pin and CA", func(c *Config) {
			c.Services, c.RelayTokenKeys = "relay", []string{"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
			c.RelayKeyServerURL, c.RelayKeyServerFingerprint, c.RelayKeyServerCA = "https://keys.example", strings.Repeat("ab", 32), certFile
		}, "--relay-keyserver-ca"},
		{"feed URL with the key server", func(c *Config) { c.RelayKeyServerURL = "https://keys.example" }, "--relay-keyserver-url"},
		{"revocation poll too long", func(c *Config) { c.RelayRevocationPoll = "2m" }, "--relay-revocation-poll"},
		{"relay key from file", func(c *Config) { c.RelayTokenKeys = []string{tokenKeyFile} }, ""},
		{"relay key not a key", func(c *Config) { c.RelayTokenKeys = []string{certFile} }, "--relay-token-key"},
		{"unknown service", func(c *Config) { c.Services = "keyserver,mail" }, "--services"},
		{"service twice", func(c *Config) { c.Services = "relay,keyserver,relay" }, "--services"},
		{"no service", func(c *Config) { c.Services = "" }, "--services"},
		{"tiny envelope cap", func(c *Config) { c.RelayMaxEnvelope = 100 }, "--relay-max-envelope"},
		{"frame under envelope", func(c *Config) { c.RelayMaxFrame = c.RelayMaxEnvelope }, "--relay-max-frame"},
		{"frame with headroom", func(c *Config) { c.RelayMaxFrame = c.RelayMaxEnvelope + 4096 }, ""},
		{"zero queue", func(c *Config) { c.RelayQueueCount = 0 }, "--relay-queue-count"},
		{"queue bytes under envelope", func(c *Config) { c.RelayQueueBytes = 1000 }, "--relay-queue-bytes"},
		{"bad ttl", func(c *Config) { c.RelayTTL = "30d" }, "--relay-ttl"},
		{"short ttl", func(c *Config) { c.RelayTTL = "2s" }, ""},
		{"zero rate", func(c *Config) { c.RelayRate = 0 }, "--relay-rate"},
		{"quota share over 100", func(c *Config) { c.RelayQuotaShare = 101 }, "--relay-quota-share"},
		{"quota bytes burst under envelope", func(c *Config) { c.RelayQuotaBytesBurst = 1000 }, "--relay-quota-bytes-burst"},
		{"bad quota retry", func(c *Config) { c.RelayQuotaRetry = "soon" }, "--relay-quota-retry"},
		{"zero reconnect rate", func(c *Config) { c.RelayReconnectRate = 0 }, "--relay-reconnect-rate"},
		{"ephemeral envelope over the NOTIFY cap", func(c *Config) { c.RelayEphemeralMaxEnvelope = relay.MaxEphemeralEnvelopeCap + 1 }, "--relay-ephemeral-max-envelope"},
		{"zero ephemeral rate", func(c *Config) { c.RelayEphemeralRate = 0 }, "--relay-ephemeral-rate"},
		{"zero ephemeral pair burst", func(c *Config) { c.RelayEphemeralPairBurst = 0 }, "--relay-ephemeral-pair-burst"},
		{"no first contact", func(c *Config) { c.RelayFirstContactPerHour = -1 }, ""},
		{"first contact below -1", func(c *Config) { c.RelayFirstContactPerHour = -2 }, "--relay-first-contact-per-hour"},
		{"link ttl longest", func(c *Config) { c.RelayLinkTTL = "15m" }, ""},
		{"link ttl shortest", func(c *Config) { c.RelayLinkTTL = "10m" }, ""},
		{"link ttl in milliseconds", func(c *Config) { c.RelayLinkTTL = "12m30.125s" }, ""},
		{"link ttl under the clients'", func(c *Config) { c.RelayLinkTTL = "9m59.999s" }, "--relay-link-ttl"},
		{"link ttl of a minute", func(c *Config) { c.RelayLinkTTL = "1m" }, "--relay-link-ttl"},
		{"link ttl over the offer lifetime", func(c *Config) { c.RelayLinkTTL = "15m0.001s" }, "--relay-link-ttl"},
		{"link ttl of an hour", func(c *Config) { c.RelayLinkTTL = "1h" }, "--relay-link-ttl"},
		{"link ttl under a millisecond", func(c *Config) { c.RelayLinkTTL = "10m0.0005s" }, "--relay-link-ttl"},
		{"link ttl not a duration", func(c *Config) { c.RelayLinkTTL = "600" }, "--relay-link-ttl"},
		{"zero max links", func(c *Config) { c.RelayMaxLinks = 0 }, "--relay-max-links"},
		{"max links too many", func(c *Config) { c.RelayMaxLinks = 100_000_001 }, "--relay-max-links"},
		{"one link", func(c *Config) { c.RelayMaxLinks = 1 }, ""},
		{"zero link opens", func(c *Config) { c.RelayLinkOpensPerMinute = 0 }, "--relay-link-opens-per-minute"},
		{"negative link opens", func(c *Config) { c.RelayLinkOpensPerMinute = -10 }, "--relay-link-opens-per-minute"},
		{"link opens too many", func(c *Config) { c.RelayLinkOpensPerMinute = 1_000_001 }, "--relay-link-opens-per-minute"},
		{"zero link open burst", func(c *Config) { c.RelayLinkOpenBurst = 0 }, "--relay-link-open-burst"},
		{"link open burst too large", func(c *Config) { c.RelayLinkOpenBurst = 1_000_001 }, "--relay-link-open-burst"},
		{"link limits off with relay off", func(c *Config) { c.Services, c.RelayLinkTTL, c.RelayMaxLinks = "keyserver", "1h", 0 }, ""},
		{"reconnect window over the hint cap", func(c *Config) { c.RelayReconnectWindow = "1h" }, "--relay-reconnect-window"},
		{"idle under heartbeat", func(c *Config) { c.RelayHeartbeat, c.RelayIdleTimeout = "10s", "5s" }, "--relay-idle-timeout"},
		{"relay limits off with relay off", func(c *Config) { c.Services, c.RelayRate = "keyserver", 0 }, ""},
		{"gc percent", func(c *Config) { c.GCPercent = 400 }, ""},
		{"gc off", func(c *Config) { c.GCPercent = -1 }, ""},
		{"gc percent negative", func(c *Config) { c.GCPercent = -2 }, "--gc-percent"},
		{"witnesses", func(c *Config) { c.Witnesses = []string{"https://w1.example/ " + w1, "http://127.0.0.1:7380 " + w2} }, ""},
		{"witness without key", func(c *Config) { c.Witnesses = []string{"https://w1.example/"} }, "--witness"},
		{"witness not a URL", func(c *Config) { c.Witnesses = []string{"w1.example " + w1} }, "--witness"},
		{"witness key malformed", func(c *Config) { c.Witnesses = []string{"https://w1.example/ " + w1 + "x"} }, "--witness"},
		{"witness key twice", func(c *Config) { c.Witnesses = []string{"https://w1.example/ " + w1, "https://w2.example/ " + w1} }, "--witness"},
		{"gc percent huge", func(c *Config) { c.GCPercent = maxGCPercent + 1 }, "--gc-percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			if len(cfg.RelayTokenKeys) == 1 && cfg.RelayTokenKeys[0] == tokenKeyFile {
				// The key server's token-key.pem, as sealpostd writes it.
				if _, err := loadOrCreateKey(filepath.Join(dir, tokenKeyFile), slog.New(slog.DiscardHandler)); err != nil {
					t.Fatal(err)
				}
				cfg.RelayTokenKeys[0] = filepath.Join(dir, tokenKeyFile)
			}
			err := cfg.Validate()
			switch {
			case tc.bad == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.bad != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.bad+":") || strings.Contains(err.Error(), "\n")):
				t.Errorf("Validate = %v, want one problem with %s", err, tc.bad)
			}
		})
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sealpostd.json")
	if err := os.WriteFile(file, []byte(`{
		"listen": "127.0.0.1:9443",
		"name": "keys.example.org",
		"invite_only": true,
		"relay_audiences": ["relay:a", "relay:b"],
		"log_format": "json"
	}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cfg, err := parseConfig("sealpostd", []string{"--config", file, "--listen", "127.0.0.1:7443", "--relay-audience", "relay:c", "--relay-audience", "relay:d"}, &stderr)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	want := DefaultConfig()
	want.Listen = "127.0.0.1:7443"
	want.Name = "keys.example.org"
	want.InviteOnly = true
	want.RelayAudiences = []string{"relay:c", "relay:d"}
	want.LogFormat = "json"
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("got %+v\nwant %+v", *cfg, want)
	}

	// Without the flags the file's values stand.
	cfg, err = parseConfig("sealpostd", []string{"--config", file}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9443" || !reflect.DeepEqual(cfg.RelayAudiences, []string{"relay:a", "relay:b"}) {
		t.Errorf("file values lost: %+v", *cfg)
	}
}

func TestConfigFileRefused(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown field": `{"listen": "127.0.0.1:1", "lisen": "x"}`,
		"trailing data": `{"listen": "127.0.0.1:1"} {}`,
		"wrong type":    `{"invite_only": "yes"}`,
		"not json":      `listen = 127.0.0.1:1`,
	} {
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		if code := run([]string{"--config", file}, &bytes.Buffer{}, &stderr); code != exitUsage {
			t.Errorf("%s: exit %d, want %d", name, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), "config file") {
			t.Errorf("%s: stderr %q does not name the config file", name, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"--config", filepath.Join(dir, "missing.json")}, &bytes.Buffer{}, &stderr); code != exitUsage {
		t.Errorf("missing file: exit %d, want %d", code, exitUsage)
	}
}

func TestRunUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--invite-only=maybe"},
		{"serve"},
		{"invite", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
		if stderr.Len() == 0 {
			t.Errorf("%q: nothing on stderr", args)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != exitOK || !strings.Contains(stderr.String(), "-data-dir") {
		t.Errorf("-h: exit %d, stderr %q", code, stderr.String())
	}
}

// TestReconnectFlags checks that the reconnect pacing flags reach the
// relay's limits (spec/relay.md §2.5) and default to relay.DefaultLimits.
func TestReconnectFlags(t *testing.T) {
	c, err := parseConfig("sealpostd", nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	def := relay.DefaultLimits()
	if l := c.relayLimits(); l.ReconnectRate != def.ReconnectRate || l.MaxReconnectWindow != def.MaxReconnectWindow {
		t.Fatalf("defaults: rate %d window %v, want %d %v", l.ReconnectRate, l.MaxReconnectWindow, def.ReconnectRate, def.MaxReconnectWindow)
	}
	c, err = parseConfig("sealpostd", []string{"--relay-reconnect-rate", "250", "--relay-reconnect-window", "3s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if l := c.relayLimits(); l.ReconnectRate != 250 || l.MaxReconnectWindow != 3*time.Second {
		t.Fatalf("flags: rate %d window %v, want 250 3s", l.ReconnectRate, l.MaxReconnectWindow)
	}
}

// TestEphemeralFlags checks that the ephemeral flags reach the relay's
// limits (spec/relay.md §7.4) and default to relay.DefaultLimits.
func TestEphemeralFlags(t *testing.T) {
	c, err := parseConfig("sealpostd", nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	def, l := relay.DefaultLimits(), c.relayLimits()
	if l.MaxEphemeralEnvelope != def.MaxEphemeralEnvelope || l.EphemeralPerSecond != def.EphemeralPerSecond || l.EphemeralBurst != def.EphemeralBurst ||
		l.EphemeralPairRate != def.EphemeralPairRate || l.EphemeralPairBurst != def.EphemeralPairBurst {
		t.Fatalf("defaults: %+v", l)
	}
	c, err = parseConfig("sealpostd", []string{"--relay-ephemeral-max-envelope", "512", "--relay-ephemeral-rate", "100000",
		"--relay-ephemeral-burst", "200000", "--relay-ephemeral-pair-rate", "7", "--relay-ephemeral-pair-burst", "9"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if l := c.relayLimits(); l.MaxEphemeralEnvelope != 512 || l.EphemeralPerSecond != 100000 || l.EphemeralBurst != 200000 ||
		l.EphemeralPairRate != 7 || l.EphemeralPairBurst != 9 {
		t.Fatalf("flags: %+v", l)
	}
}

// TestLinkFlags checks that the link mailbox settings (spec/relay.md §17)
// default to relay.DefaultLimits and reach the relay's limits from the
// flags and from the config file, flags overriding the file.
func TestLinkFlags(t *testing.T) {
	c, err := parseConfig("sealpostd", nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	def, l := relay.DefaultLimits(), c.relayLimits()
	if l.LinkTTL != def.LinkTTL || l.MaxLinks != def.MaxLinks || l.LinkOpensPerMinute != def.LinkOpensPerMinute || l.LinkOpenBurst != def.LinkOpenBurst {
		t.Fatalf("defaults: ttl %v max %d opens %d burst %d", l.LinkTTL, l.MaxLinks, l.LinkOpensPerMinute, l.LinkOpenBurst)
	}
	c, err = parseConfig("sealpostd", []string{"--relay-link-ttl", "12m30.5s", "--relay-max-links", "5000",
		"--relay-link-opens-per-minute", "3", "--relay-link-open-burst", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if l := c.relayLimits(); l.LinkTTL != 12*time.Minute+30500*time.Millisecond || l.MaxLinks != 5000 || l.LinkOpensPerMinute != 3 || l.LinkOpenBurst != 7 {
		t.Fatalf("flags: ttl %v max %d opens %d burst %d", l.LinkTTL, l.MaxLinks, l.LinkOpensPerMinute, l.LinkOpenBurst)
	}

	file := filepath.Join(t.TempDir(), "sealpostd.json")
	if err := os.WriteFile(file, []byte(`{"relay_link_ttl": "15m", "relay_max_links": 42,
		"relay_link_opens_per_minute": 60, "relay_link_open_burst": 120}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = parseConfig("sealpostd", []string{"--config", file, "--relay-link-open-burst", "90"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if l := c.relayLimits(); l.LinkTTL != 15*time.Minute || l.MaxLinks != 42 || l.LinkOpensPerMinute != 60 || l.LinkOpenBurst != 90 {
		t.Fatalf("file and flag: ttl %v max %d opens %d burst %d", l.LinkTTL, l.MaxLinks, l.LinkOpensPerMinute, l.LinkOpenBurst)
	}

	// A TTL out of range on the command line is a usage error naming the
	// flag, and nothing is started.
	for _, ttl := range []string{"1m", "1h", "9m"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"--data-dir", t.TempDir(), "--relay-link-ttl", ttl}, &stdout, &stderr); code != exitUsage {
			t.Errorf("--relay-link-ttl %s: exit %d, want %d", ttl, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), "--relay-link-ttl") {
			t.Errorf("--relay-link-ttl %s: stderr %q does not name the flag", ttl, stderr.String())
		}
	}
}

// TestLinkTTLBounds keeps --relay-link-ttl's bounds on the clients'
// constants (spec/linking.md §9): never shorter than the lifetime a new
// device gives its link, never longer than the offer lifetime an existing
// device accepts; the relay's own check takes both, and the default lies
// between them.
func TestLinkTTLBounds(t *testing.T) {
	if minLinkTTL != client.LinkTTL {
		t.Errorf("minLinkTTL %v, client.LinkTTL %v", minLinkTTL, client.LinkTTL)
	}
	if maxLinkTTL != link.MaxOfferLifetime || minLinkTTL > maxLinkTTL {
		t.Errorf("maxLinkTTL %v, link.MaxOfferLifetime %v, minLinkTTL %v", maxLinkTTL, link.MaxOfferLifetime, minLinkTTL)
	}
	if d := relay.DefaultLimits().LinkTTL; d < minLinkTTL || d > maxLinkTTL {
		t.Errorf("relay default link TTL %v outside [%v, %v]", d, minLinkTTL, maxLinkTTL)
	}
	for _, ttl := range []time.Duration{minLinkTTL, maxLinkTTL} {
		c := DefaultConfig()
		c.RelayLinkTTL = ttl.String()
		if err := c.Validate(); err != nil {
			t.Fatalf("%v: %v", ttl, err)
		}
		if _, err := relay.New(relay.Config{Limits: c.relayLimits()}); err != nil && strings.Contains(err.Error(), "LinkTTL") {
			t.Errorf("%v: the relay refuses it: %v", ttl, err)
		}
	}
}
