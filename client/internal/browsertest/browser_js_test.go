//go:build js

package browsertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/tlsconfig"
)

// config returns a Config for a new store of its own: no network is used
// until the device registers.
func config(t *testing.T) client.Config {
	var b [6]byte
	rand.Read(b[:])
	return client.Config{
		Dir:             t.Name() + "-" + hex.EncodeToString(b[:]),
		Passphrase:      []byte("correct horse"),
		KeyServer:       "https://127.0.0.1:1",
		TrustOnFirstUse: true,
		WorkFactor:      2,
	}
}

func TestOpenInIndexedDB(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	if _, err := client.Open(ctx, cfg); !errors.Is(err, client.ErrNoStore) {
		t.Fatalf("Open of a missing store without Create: %v, want ErrNoStore", err)
	}
	cfg.Create = true
	c, err := client.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open with Create: %v", err)
	}
	cfg.Create = false
	if _, err := client.Open(ctx, cfg); !errors.Is(err, client.ErrLocked) {
		t.Fatalf("a second Open while open: %v, want ErrLocked", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wrong := cfg
	wrong.Passphrase = []byte("wrong")
	if _, err := client.Open(ctx, wrong); !errors.Is(err, client.ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	c, err = client.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	c.Close()
}

func TestBrowserRefusesOwnTrust(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*client.Config)
	}{
		{"Pin", func(c *client.Config) { c.Pin = strings.Repeat("ab", 32) }},
		{"CAFile", func(c *client.Config) { c.CAFile = "/etc/ssl/certs/ca.pem" }},
		{"Dial", func(c *client.Config) { c.Dial, _ = client.SOCKS5("127.0.0.1:9050") }},
	} {
		cfg := config(t)
		cfg.Create = true
		tc.set(&cfg)
		_, err := client.Open(context.Background(), cfg)
		if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "Config."+tc.name) {
			t.Errorf("Open with Config.%s: %v, want an error naming it and wrapping errors.ErrUnsupported", tc.name, err)
		}
		if tc.name != "Dial" && !errors.Is(err, tlsconfig.ErrBrowserTrust) {
			t.Errorf("Open with Config.%s: %v, want tlsconfig.ErrBrowserTrust", tc.name, err)
		}
		// Nothing was made.
		cfg.Create, cfg.Pin, cfg.CAFile, cfg.Dial = false, "", "", nil
		if _, err := client.Open(context.Background(), cfg); !errors.Is(err, client.ErrNoStore) {
			t.Errorf("Open after a refused Config.%s: %v, want ErrNoStore", tc.name, err)
		}
	}
}

func TestFileTransferUnsupported(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	cfg.Create = true
	c, err := client.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.SendFile(ctx, "alice", bytes.NewReader([]byte("hi")), client.FileInfo{Size: 2}); !errors.Is(err, client.ErrFileTransferUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SendFile: %v, want ErrFileTransferUnsupported", err)
	}
	if err := c.Download(ctx, &client.Attachment{Size: 2}, new(bytes.Buffer)); !errors.Is(err, client.ErrFileTransferUnsupported) {
		t.Errorf("Download: %v, want ErrFileTransferUnsupported", err)
	}
	if err := c.ResumeFiles(ctx, nil); !errors.Is(err, client.ErrFileTransferUnsupported) {
		t.Errorf("ResumeFiles: %v, want ErrFileTransferUnsupported", err)
	}
}

// The clients of the key server and the relay refuse, in the browser, the
// TLS trust and dialers they cannot apply, whoever calls them.
func TestLowerLayersRefuseOwnTrust(t *testing.T) {
	var fp tlsconfig.Fingerprint
	pinned := tlsconfig.ClientConfig(fp)
	if _, err := ksclient.New("https://127.0.0.1:1", pinned); !errors.Is(err, tlsconfig.ErrBrowserTrust) {
		t.Errorf("ksclient.New with a pin: %v, want ErrBrowserTrust", err)
	}
	ks, err := ksclient.New("https://127.0.0.1:1", nil)
	if err != nil {
		t.Fatalf("ksclient.New with the browser's trust: %v", err)
	}
	if err := ks.SetDial((&net.Dialer{}).DialContext); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ksclient SetDial: %v, want errors.ErrUnsupported", err)
	}
	ctx := context.Background()
	if _, _, err := relayclient.Dial(ctx, "wss://127.0.0.1:1/v1/relay", pinned, "token"); !errors.Is(err, tlsconfig.ErrBrowserTrust) {
		t.Errorf("relayclient.Dial with a pin: %v, want ErrBrowserTrust", err)
	}
	if _, _, err := relayclient.DialVia(ctx, "wss://127.0.0.1:1/v1/relay", nil, "token", (&net.Dialer{}).DialContext); !errors.Is(err, relayclient.ErrBrowserDial) {
		t.Errorf("relayclient.DialVia with a dialer: %v, want ErrBrowserDial", err)
	}
}
