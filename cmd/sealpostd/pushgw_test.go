package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/internal/apnstest"
	"github.com/sealpost/sealpost/internal/fcmtest"
	"github.com/sealpost/sealpost/push/gateway"
	"github.com/sealpost/sealpost/push/gateway/gwclient"
)

const (
	pgTeam    = "TEAM123456"
	pgKeyID   = "KEY1234567"
	pgTopic   = "org.example.sealpost"
	pgProject = "sealpost-test"
	pgEmail   = "pushgw@sealpost-test.iam.gserviceaccount.com"
	pgKey     = "relay-key-0123456789abcdefghijklmnopqrstuvwxyz"
	pgAPNsDev = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	pgFCMDev  = "fcm-device:APA91bHPRgkF3JUikC4ENAHEeMrd41Zxv3hVZjC9KtT8OvPVGJ"
)

// pushgwFiles writes a relay keys file, and the stand-ins' .p8 key,
// service account and CA certificates, into dir.
func pushgwFiles(t *testing.T, dir string, apns *apnstest.Server, fcm *fcmtest.Server) (keys, p8, creds, ca string) {
	t.Helper()
	line, err := gateway.RelayKeyLine("relay-one", pgKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("relay-keys", []byte("# relays allowed to wake our apps\n"+line+"\n")),
		write("AuthKey.p8", apns.KeyP8()),
		write("service-account.json", fcm.Credentials()),
		write("providers-ca.pem", append(apns.CertPEM(), fcm.CertPEM()...))
}

func TestValidatePushgw(t *testing.T) {
	apns := apnstest.New(t, apnstest.Config{TeamID: pgTeam, KeyID: pgKeyID, Topic: pgTopic})
	fcm := fcmtest.New(t, fcmtest.Config{ProjectID: pgProject, ClientEmail: pgEmail})
	dir := t.TempDir()
	keys, p8, creds, ca := pushgwFiles(t, dir, apns, fcm)
	full := func(c *Config) {
		c.Services = "pushgw"
		c.PushgwRelayKeys, c.PushgwProviderCA = keys, ca
		c.PushgwAPNsKey, c.PushgwAPNsKeyID, c.PushgwAPNsTeamID, c.PushgwAPNsTopic = p8, pgKeyID, pgTeam, pgTopic
		c.PushgwFCMCredentials = creds
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		bad  []string // flags reported, none for valid
	}{
		{"defaults", func(c *Config) {}, nil},
		{"both providers", full, nil},
		{"APNs only", func(c *Config) { full(c); c.PushgwFCMCredentials = "" }, nil},
		{"FCM only", func(c *Config) {
			full(c)
			c.PushgwAPNsKey, c.PushgwAPNsKeyID, c.PushgwAPNsTeamID, c.PushgwAPNsTopic = "", "", "", ""
		}, nil},
		{"settings without the service", func(c *Config) { full(c); c.Services = "keyserver" }, []string{"--services"}},
		{"nothing", func(c *Config) { c.Services = "pushgw" }, []string{"--pushgw-relay-keys", "--pushgw-apns-key"}},
		{"missing relay keys file", func(c *Config) { full(c); c.PushgwRelayKeys = filepath.Join(dir, "nope") }, []string{"--pushgw-relay-keys"}},
		{"bad relay keys file", func(c *Config) { full(c); c.PushgwRelayKeys = p8 }, []string{"--pushgw-relay-keys"}},
		{"every APNs problem", func(c *Config) {
			full(c)
			c.PushgwAPNsKey, c.PushgwAPNsKeyID, c.PushgwAPNsTeamID, c.PushgwAPNsTopic, c.PushgwAPNsPushType, c.PushgwAPNsURL =
				creds, "x", "y", "", "voip", "http://apns.example"
		}, []string{"--pushgw-apns-key", "--pushgw-apns-key-id", "--pushgw-apns-team-id", "--pushgw-apns-topic", "--pushgw-apns-push-type", "--pushgw-apns-url"}},
		{"APNs without key file", func(c *Config) { full(c); c.PushgwAPNsKey = "" }, []string{"--pushgw-apns-key"}},
		{"FCM credentials not JSON", func(c *Config) { full(c); c.PushgwFCMCredentials = p8 }, []string{"--pushgw-fcm-credentials"}},
		{"FCM URL", func(c *Config) { full(c); c.PushgwFCMURL = "fcm.googleapis.com" }, []string{"--pushgw-fcm-url"}},
		{"CA not PEM", func(c *Config) { full(c); c.PushgwProviderCA = keys }, []string{"--pushgw-provider-ca"}},
		{"negative rate", func(c *Config) { full(c); c.PushgwRelayRate, c.PushgwRelayBurst = -1, -1 }, []string{"--pushgw-relay-rate", "--pushgw-relay-burst"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if len(tc.bad) == 0 {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want problems with %q", tc.bad)
			}
			seen := map[string]bool{}
			for _, line := range strings.Split(err.Error(), "\n") {
				flag, _, _ := strings.Cut(line, ":")
				seen[flag] = true
			}
			for _, f := range tc.bad {
				if !seen[f] {
					t.Errorf("no problem with %s in:\n%v", f, err)
				}
				delete(seen, f)
			}
			if len(seen) != 0 {
				t.Errorf("problems with other flags %v in:\n%v", seen, err)
			}
		})
	}
}

// TestDaemonPushgw runs sealpostd with the push gateway beside the key
// server, against the APNs and FCM stand-ins, and wakes a device of each
// through gwclient.
func TestDaemonPushgw(t *testing.T) {
	apns := apnstest.New(t, apnstest.Config{TeamID: pgTeam, KeyID: pgKeyID, Topic: pgTopic})
	fcm := fcmtest.New(t, fcmtest.Config{ProjectID: pgProject, ClientEmail: pgEmail})
	dir := t.TempDir()
	keys, p8, creds, ca := pushgwFiles(t, dir, apns, fcm)
	d := start(t, "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--services", "keyserver,pushgw",
		"--pushgw-relay-keys", keys, "--pushgw-provider-ca", ca,
		"--pushgw-apns-key", p8, "--pushgw-apns-key-id", pgKeyID, "--pushgw-apns-team-id", pgTeam, "--pushgw-apns-topic", pgTopic,
		"--pushgw-apns-url", apns.URL, "--pushgw-fcm-credentials", creds, "--pushgw-fcm-url", fcm.URL)
	c, err := gwclient.New(gwclient.Config{URL: "https://" + d.addr, Key: pgKey, Client: d.client()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []gateway.Token{
		{Platform: gateway.PlatformAPNs, DeviceToken: pgAPNsDev},
		{Platform: gateway.PlatformFCM, DeviceToken: pgFCMDev},
	} {
		b, err := tok.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Wake(context.Background(), b); err != nil {
			t.Errorf("%v: %v", tok.Platform, err)
		}
	}
	apns.SetAnswer(pgAPNsDev, apnstest.Unregistered)
	b, _ := gateway.Token{Platform: gateway.PlatformAPNs, DeviceToken: pgAPNsDev}.Encode()
	if err := c.Wake(context.Background(), b); !errors.Is(err, gwclient.ErrGone) {
		t.Errorf("unregistered: %v, want ErrGone", err)
	}
	bad, _ := gwclient.New(gwclient.Config{URL: "https://" + d.addr, Key: strings.Repeat("k", 40), Client: d.client()})
	if err := bad.Wake(context.Background(), b); !errors.Is(err, gwclient.ErrRefused) {
		t.Errorf("unknown relay key: %v, want ErrRefused", err)
	}
	if n, m := len(apns.Accepted()), len(fcm.Accepted()); n != 1 || m != 1 {
		t.Errorf("%d APNs pushes, %d FCM messages; want 1 and 1", n, m)
	}
	for _, r := range [][]string{apns.Rejected(), fcm.Rejected()} {
		if len(r) != 0 {
			t.Errorf("stand-in rejected: %q", r)
		}
	}
	d.stop(t)
	for _, secret := range []string{pgKey, pgAPNsDev, pgFCMDev} {
		if strings.Contains(d.stderr.String(), secret) {
			t.Errorf("sealpostd logged %.10q...", secret)
		}
	}
}
