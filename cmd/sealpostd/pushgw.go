package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/sealpost/sealpost/push/gateway"
)

// servicePushgw is the push gateway's name in --services (spec/push.md
// §5): the app vendor runs it; relays call it to wake iOS and Android
// devices through APNs and FCM.
const servicePushgw = "pushgw"

// PushgwConfig is the push gateway's part of Config (flags --pushgw-*).
type PushgwConfig struct {
	// PushgwRelayKeys is the relay keys file: "<name> <hex SHA-256 of the
	// key>" lines (spec/push.md §5.3). Required with the gateway.
	PushgwRelayKeys string `json:"pushgw_relay_keys"`
	// Per-relay token bucket: wake-ups per second and burst; 0 takes the
	// gateway's defaults.
	PushgwRelayRate  float64 `json:"pushgw_relay_rate"`
	PushgwRelayBurst int     `json:"pushgw_relay_burst"`
	// APNs (spec/push.md §6): the .p8 signing key file, its key id, the
	// team id, the app's bundle id, the push type (alert or background)
	// and the servers (empty: Apple's).
	PushgwAPNsKey        string `json:"pushgw_apns_key"`
	PushgwAPNsKeyID      string `json:"pushgw_apns_key_id"`
	PushgwAPNsTeamID     string `json:"pushgw_apns_team_id"`
	PushgwAPNsTopic      string `json:"pushgw_apns_topic"`
	PushgwAPNsPushType   string `json:"pushgw_apns_push_type"`
	PushgwAPNsURL        string `json:"pushgw_apns_url"`
	PushgwAPNsSandboxURL string `json:"pushgw_apns_sandbox_url"`
	// FCM (spec/push.md §7): the service account JSON file and the server
	// (empty: Google's).
	PushgwFCMCredentials string `json:"pushgw_fcm_credentials"`
	PushgwFCMURL         string `json:"pushgw_fcm_url"`
	// PushgwProviderCA is a PEM file of CA certificates to check APNs's
	// and FCM's servers against instead of the system's (tests, proxies).
	PushgwProviderCA string `json:"pushgw_provider_ca"`
}

// pushgwFlags binds the --pushgw-* flags to c.
func (c *PushgwConfig) pushgwFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.PushgwRelayKeys, "pushgw-relay-keys", c.PushgwRelayKeys, "push gateway: relay keys `file`, lines \"<name> <hex SHA-256 of the relay's key>\" (required)")
	fs.Float64Var(&c.PushgwRelayRate, "pushgw-relay-rate", c.PushgwRelayRate, "push gateway: wake-ups per second per relay (0: 50)")
	fs.IntVar(&c.PushgwRelayBurst, "pushgw-relay-burst", c.PushgwRelayBurst, "push gateway: burst of wake-ups per relay (0: 500)")
	fs.StringVar(&c.PushgwAPNsKey, "pushgw-apns-key", c.PushgwAPNsKey, "push gateway: APNs token signing key `file` (.p8 from the Apple developer account)")
	fs.StringVar(&c.PushgwAPNsKeyID, "pushgw-apns-key-id", c.PushgwAPNsKeyID, "push gateway: APNs signing key `id` (10 characters)")
	fs.StringVar(&c.PushgwAPNsTeamID, "pushgw-apns-team-id", c.PushgwAPNsTeamID, "push gateway: Apple developer team `id` (10 characters)")
	fs.StringVar(&c.PushgwAPNsTopic, "pushgw-apns-topic", c.PushgwAPNsTopic, "push gateway: the iOS app's bundle `id`")
	fs.StringVar(&c.PushgwAPNsPushType, "pushgw-apns-push-type", c.PushgwAPNsPushType, "push gateway: APNs push `type`, alert (for a Notification Service Extension) or background (default alert)")
	fs.StringVar(&c.PushgwAPNsURL, "pushgw-apns-url", c.PushgwAPNsURL, "push gateway: APNs production server `URL` (default "+gateway.DefaultAPNsURL+")")
	fs.StringVar(&c.PushgwAPNsSandboxURL, "pushgw-apns-sandbox-url", c.PushgwAPNsSandboxURL, "push gateway: APNs sandbox server `URL` (default "+gateway.DefaultAPNsSandboxURL+")")
	fs.StringVar(&c.PushgwFCMCredentials, "pushgw-fcm-credentials", c.PushgwFCMCredentials, "push gateway: Firebase service account JSON `file`")
	fs.StringVar(&c.PushgwFCMURL, "pushgw-fcm-url", c.PushgwFCMURL, "push gateway: FCM server `URL` (default "+gateway.DefaultFCMURL+")")
	fs.StringVar(&c.PushgwProviderCA, "pushgw-provider-ca", c.PushgwProviderCA, "push gateway: PEM `file` of CA certificates for the APNs and FCM servers (default: the system's)")
}

// pushgwOn reports whether c runs the push gateway.
func (c *Config) pushgwOn() bool {
	for _, s := range strings.Split(c.Services, ",") {
		if strings.TrimSpace(s) == servicePushgw {
			return true
		}
	}
	return false
}

// apnsOn and fcmOn report whether the gateway is configured for a
// provider.
func (c *PushgwConfig) apnsOn() bool {
	return c.PushgwAPNsKey != "" || c.PushgwAPNsKeyID != "" || c.PushgwAPNsTeamID != "" || c.PushgwAPNsTopic != "" ||
		c.PushgwAPNsPushType != "" || c.PushgwAPNsURL != "" || c.PushgwAPNsSandboxURL != ""
}

func (c *PushgwConfig) fcmOn() bool { return c.PushgwFCMCredentials != "" || c.PushgwFCMURL != "" }

// validatePushgw adds the problems with the push gateway's settings to
// bad: it reads the files and builds the senders, so a bad key or
// credentials file is reported at start.
func (c *Config) validatePushgw(bad func(flag, format string, args ...any)) {
	p := &c.PushgwConfig
	if !c.pushgwOn() {
		if p.PushgwRelayKeys != "" || p.apnsOn() || p.fcmOn() || p.PushgwProviderCA != "" {
			bad("services", "the --pushgw-* settings need %s in the list", servicePushgw)
		}
		return
	}
	if p.PushgwRelayKeys == "" {
		bad("pushgw-relay-keys", "missing: the push gateway needs the relay keys file")
	} else {
		for _, problem := range problems(gateway.LoadRelayKeys(p.PushgwRelayKeys)) {
			bad("pushgw-relay-keys", "%s", problem)
		}
	}
	if p.PushgwRelayRate < 0 {
		bad("pushgw-relay-rate", "%v: want 0 (the default) or more", p.PushgwRelayRate)
	}
	if p.PushgwRelayBurst < 0 {
		bad("pushgw-relay-burst", "%d: want 0 (the default) or more", p.PushgwRelayBurst)
	}
	if !p.apnsOn() && !p.fcmOn() {
		bad("pushgw-apns-key", "missing: the push gateway needs APNs (--pushgw-apns-*) or FCM (--pushgw-fcm-credentials) or both")
	}
	client, err := p.providerClient()
	if err != nil {
		bad("pushgw-provider-ca", "%v", err)
	}
	if p.apnsOn() {
		for _, problem := range problems(p.apns(client)) {
			bad(apnsFlag(problem), "%s", problem)
		}
	}
	if p.fcmOn() {
		for _, problem := range problems(p.fcm(client)) {
			flag := "pushgw-fcm-credentials"
			if strings.Contains(problem, "FCM URL") {
				flag = "pushgw-fcm-url"
			}
			bad(flag, "%s", problem)
		}
	}
}

// problems splits a joined error into its lines.
func problems[T any](_ T, err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// apnsFlag names the flag a gateway.NewAPNs problem is about.
func apnsFlag(problem string) string {
	for _, f := range []struct{ text, flag string }{
		{"key id", "pushgw-apns-key-id"}, {"team id", "pushgw-apns-team-id"}, {"topic", "pushgw-apns-topic"},
		{"push type", "pushgw-apns-push-type"}, {"APNs URL", "pushgw-apns-url"},
	} {
		if strings.Contains(problem, f.text) {
			return f.flag
		}
	}
	return "pushgw-apns-key"
}

// providerClient returns the HTTP client to APNs and FCM: the system's
// CAs, or those of PushgwProviderCA.
func (c *PushgwConfig) providerClient() (*http.Client, error) {
	if c.PushgwProviderCA == "" {
		return gateway.ProviderClient(nil), nil
	}
	b, err := os.ReadFile(c.PushgwProviderCA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", c.PushgwProviderCA)
	}
	return gateway.ProviderClient(pool), nil
}

// apns builds the APNs sender.
func (c *PushgwConfig) apns(client *http.Client) (*gateway.APNs, error) {
	var key []byte
	var errs []error
	if c.PushgwAPNsKey == "" {
		errs = append(errs, errors.New("missing: APNs needs the .p8 key file"))
	} else {
		var err error
		if key, err = os.ReadFile(c.PushgwAPNsKey); err != nil {
			errs = append(errs, err)
		}
	}
	a, err := gateway.NewAPNs(gateway.APNsConfig{
		Key: key, KeyID: c.PushgwAPNsKeyID, TeamID: c.PushgwAPNsTeamID, Topic: c.PushgwAPNsTopic,
		PushType: c.PushgwAPNsPushType, URL: c.PushgwAPNsURL, SandboxURL: c.PushgwAPNsSandboxURL, Client: client,
	})
	if len(errs) > 0 && err != nil {
		// A missing or unreadable file is the key's only problem worth
		// saying; drop NewAPNs's "want one PEM block".
		var rest []error
		for _, line := range problems(a, err) {
			if !strings.Contains(line, "APNs key:") {
				rest = append(rest, errors.New(line))
			}
		}
		return nil, errors.Join(append(errs, rest...)...)
	}
	return a, err
}

// fcm builds the FCM sender.
func (c *PushgwConfig) fcm(client *http.Client) (*gateway.FCM, error) {
	if c.PushgwFCMCredentials == "" {
		return nil, errors.New("missing: FCM needs the service account JSON file")
	}
	creds, err := os.ReadFile(c.PushgwFCMCredentials)
	if err != nil {
		return nil, err
	}
	return gateway.NewFCM(gateway.FCMConfig{Credentials: creds, URL: c.PushgwFCMURL, Client: client})
}

// startPushgw builds the push gateway; cfg must be valid.
func startPushgw(cfg *Config, log *slog.Logger) (*gateway.Server, string, error) {
	p := &cfg.PushgwConfig
	keys, err := gateway.LoadRelayKeys(p.PushgwRelayKeys)
	if err != nil {
		return nil, "", err
	}
	client, err := p.providerClient()
	if err != nil {
		return nil, "", fmt.Errorf("push gateway: %w", err)
	}
	gcfg := gateway.Config{RelayKeys: keys, RelayRate: p.PushgwRelayRate, RelayBurst: p.PushgwRelayBurst,
		Log: log.With("service", "pushgw")}
	var providers []string
	if p.apnsOn() {
		if gcfg.APNs, err = p.apns(client); err != nil {
			return nil, "", fmt.Errorf("push gateway: %w", err)
		}
		providers = append(providers, "apns")
	}
	if p.fcmOn() {
		if gcfg.FCM, err = p.fcm(client); err != nil {
			return nil, "", fmt.Errorf("push gateway: %w", err)
		}
		providers = append(providers, "fcm")
	}
	gw, err := gateway.New(gcfg)
	if err != nil {
		return nil, "", err
	}
	return gw, strings.Join(providers, ","), nil
}
