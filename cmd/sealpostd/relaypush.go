package main

import (
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sealpost/sealpost/push/egress"
	"github.com/sealpost/sealpost/push/gateway/gwclient"
	"github.com/sealpost/sealpost/push/webpush"
	"github.com/sealpost/sealpost/relay"
)

// vapidKeyFile is the relay's VAPID key in the data directory
// (spec/push.md §2.1, §4.6): kept so that subscriptions made against it
// stay valid across restarts.
const vapidKeyFile = "vapid.pem"

// RelayPushConfig is the relay's part of Config for wake-ups
// (spec/push.md; flags --relay-push-*).
type RelayPushConfig struct {
	// RelayPush turns Web Push wake-ups on (default true).
	RelayPush bool `json:"relay_push"`
	// RelayPushSubject is the VAPID sub claim: "mailto:" with the
	// operator's address or an "https:" URL; empty: mailto:postmaster@<name>.
	RelayPushSubject string `json:"relay_push_subject"`
	// RelayPushInterval is the least time between two wake-ups of one
	// device.
	RelayPushInterval string `json:"relay_push_interval"`
	// RelayPushGateways are the push gateways the relay may use, each
	// "URL=FILE" with FILE holding this relay's key at that gateway.
	RelayPushGateways []string `json:"relay_push_gateways"`
	// RelayPushAllowPrivate lets the relay reach push services on private
	// and loopback addresses (tests only: refused by default against SSRF,
	// spec/push.md §4.8).
	RelayPushAllowPrivate bool `json:"relay_push_allow_private"`
	// RelayPushCA is a PEM file of certificates to trust for push services
	// and gateways besides the system's roots (a gateway with a
	// self-signed certificate: its certificate file; tests).
	RelayPushCA string `json:"relay_push_ca"`
}

func (c *RelayPushConfig) setRelayPushDefaults() {
	c.RelayPush = true
	c.RelayPushInterval = relay.DefaultWakeInterval.String()
}

func (c *RelayPushConfig) relayPushFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.RelayPush, "relay-push", c.RelayPush, "relay: wake devices that are not connected through Web Push / UnifiedPush (spec/push.md); false answers their registrations disabled")
	fs.StringVar(&c.RelayPushSubject, "relay-push-subject", c.RelayPushSubject, "relay: VAPID contact `URI` push services may write to, mailto: or https: (default mailto:postmaster@<name>)")
	fs.StringVar(&c.RelayPushInterval, "relay-push-interval", c.RelayPushInterval, "relay: least `duration` between two wake-ups of one device")
	fs.Var(&listFlag{list: &c.RelayPushGateways}, "relay-push-gateway", "relay: a push gateway for APNs and FCM as `URL=FILE`, FILE holding this relay's key at it; repeatable")
	fs.BoolVar(&c.RelayPushAllowPrivate, "relay-push-allow-private", c.RelayPushAllowPrivate, "relay: let wake-ups go to private and loopback addresses (tests only; refused by default)")
	fs.StringVar(&c.RelayPushCA, "relay-push-ca", c.RelayPushCA, "relay: PEM `file` of certificates to trust for push services and gateways besides the system's, e.g. a push gateway's self-signed certificate")
}

// relayPushSubject is the VAPID subject c sets.
func (c *Config) relayPushSubject() string {
	if c.RelayPushSubject != "" {
		return c.RelayPushSubject
	}
	return "mailto:postmaster@" + c.Name
}

func (c *Config) validateRelayPush(bad func(flag, format string, args ...any)) {
	if _, rl := c.services(); !rl {
		return
	}
	if d, err := time.ParseDuration(c.RelayPushInterval); err != nil || d < time.Second || d > 24*time.Hour {
		bad("relay-push-interval", "%q: want a duration from 1s to 24h", c.RelayPushInterval)
	}
	if c.RelayPush && (c.RelayPushSubject != "" || validName(c.Name)) { // a bad --name is reported once
		if err := webpush.CheckSubject(c.relayPushSubject()); err != nil {
			bad("relay-push-subject", "%v", err)
		}
	}
	seen := map[string]bool{}
	for _, g := range c.RelayPushGateways {
		u, file, ok := strings.Cut(g, "=")
		if !ok {
			bad("relay-push-gateway", "%q: want URL=FILE", g)
			continue
		}
		if seen[u] {
			bad("relay-push-gateway", "%q given twice", u)
		}
		seen[u] = true
		key, err := os.ReadFile(file)
		if err != nil {
			bad("relay-push-gateway", "%s: %v", file, err)
			continue
		}
		if _, err := gwclient.New(gwclient.Config{URL: u, Key: strings.TrimSpace(string(key))}); err != nil {
			bad("relay-push-gateway", "%v", err)
		}
	}
	if c.RelayPushCA != "" {
		if _, err := loadCAs(c.RelayPushCA); err != nil {
			bad("relay-push-ca", "%v", err)
		}
	}
}

// relayPush returns the relay's wake-up configuration, or nil if it sends
// none; it creates the VAPID key in the data directory on first use.
func relayPush(cfg *Config) (*relay.PushConfig, error) {
	if !cfg.RelayPush && len(cfg.RelayPushGateways) == 0 {
		return nil, nil
	}
	ec := egress.Config{AllowPrivate: cfg.RelayPushAllowPrivate}
	if cfg.RelayPushCA != "" {
		// Added to the system's roots: the relay still reaches the public
		// push services while it trusts, say, a gateway's self-signed
		// certificate.
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(cfg.RelayPushCA)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", cfg.RelayPushCA)
		}
		ec.RootCAs = pool
	}
	hc := egress.NewClient(ec)
	interval, _ := time.ParseDuration(cfg.RelayPushInterval) // validated
	ttl, _ := time.ParseDuration(cfg.RelayTTL)
	pc := &relay.PushConfig{Interval: interval}
	if cfg.RelayPush {
		key, err := webpush.LoadOrCreateVAPIDKey(filepath.Join(cfg.DataDir, vapidKeyFile))
		if err != nil {
			return nil, fmt.Errorf("relay: VAPID key: %w", err)
		}
		sender, err := webpush.NewSender(webpush.SenderConfig{Key: key, Subject: cfg.relayPushSubject(), Client: hc})
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		pc.WebPush = relay.WebPushWaker(sender, ttl)
		pc.VAPIDPublicKey = key.PublicKey()
		allow := cfg.RelayPushAllowPrivate
		pc.CheckEndpoint = func(u string) error { return egress.CheckURL(u, allow) }
	}
	if len(cfg.RelayPushGateways) > 0 {
		clients := make(map[string]*gwclient.Client)
		for _, g := range cfg.RelayPushGateways {
			u, file, _ := strings.Cut(g, "=")
			key, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			c, err := gwclient.New(gwclient.Config{URL: u, Key: strings.TrimSpace(string(key)), Client: hc})
			if err != nil {
				return nil, err
			}
			clients[u] = c
			pc.Gateways = append(pc.Gateways, u)
		}
		pc.Gateway = relay.GatewayWaker(clients)
	}
	return pc, nil
}
