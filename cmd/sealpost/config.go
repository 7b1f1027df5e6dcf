package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/tlsconfig"
)

// configFile is the name of the CLI's settings in the store directory.
const configFile = "config.json"

// DefaultServer is where sealpostd listens when started without flags
// (cmd/sealpostd DefaultListen).
const DefaultServer = "https://127.0.0.1:8443"

// fileConfig is DIR/config.json: where the servers are and how to trust
// their certificates. Nothing in it is secret.
type fileConfig struct {
	Server string `json:"server"`
	Relay  string `json:"relay,omitempty"`
	// Blobs is the blob service's URL (client.Config.Blobs); empty means
	// the key server's.
	Blobs  string `json:"blobs,omitempty"`
	Pin    string `json:"pin,omitempty"`
	CAFile string `json:"ca_file,omitempty"`
	// LogKey is the key server's transparency log verifier key, the trust
	// root of every key (client.Config.LogKey); TrustOnFirstUse takes it
	// from the server the first time instead.
	LogKey          string `json:"log_key,omitempty"`
	TrustOnFirstUse bool   `json:"trust_on_first_use,omitempty"`
	// Witnesses are the verifier keys of the transparency log witnesses
	// whose cosignatures a checkpoint needs, WitnessQuorum of them (0: all)
	// (client.Config.Witnesses, spec/transparency-v2.md §7).
	Witnesses     []string `json:"witnesses,omitempty"`
	WitnessQuorum int      `json:"witness_quorum,omitempty"`
	// Anonymous sends to other accounts on anonymous relay connections,
	// paid with send tokens (client.SendAnonymous, spec/client.md §13).
	Anonymous bool `json:"anonymous,omitempty"`
	// Proxy is a SOCKS5 proxy, host:port (Tor: 127.0.0.1:9050), that every
	// connection goes through (client.Config.Dial).
	Proxy string `json:"proxy,omitempty"`
}

// serverFlags are the flags of init and restore that fill a fileConfig.
type serverFlags struct {
	server, relay, blobs, pin, ca, invite, logKey string
	tofu, anonymous                               bool
	witnesses                                     witnessFlag
	quorum                                        int
	proxy                                         string
}

// witnessFlag is the repeatable --witness.
type witnessFlag []string

func (w *witnessFlag) String() string     { return strings.Join(*w, ",") }
func (w *witnessFlag) Set(v string) error { *w = append(*w, strings.TrimSpace(v)); return nil }

func (s *serverFlags) bind(fs *flag.FlagSet, invite bool) {
	fs.StringVar(&s.server, "server", DefaultServer, "key server `URL`, https://HOST:PORT")
	fs.StringVar(&s.relay, "relay", "", "relay `URL`, wss://HOST:PORT/v1/relay (default: the server's host, path /v1/relay)")
	fs.StringVar(&s.blobs, "blobs", "", "blob service `URL` for files, https://HOST:PORT (default: the server's)")
	fs.StringVar(&s.pin, "pin", "", "trust exactly the certificate with this SHA-256 `fingerprint` (hex, as sealpostd prints it)")
	fs.StringVar(&s.ca, "ca", "", "trust the CA certificates in this PEM `file` instead of the system's")
	fs.StringVar(&s.logKey, "log-key", "", "the key server's transparency log verifier `key` as sealpostd prints it, or a file holding it (sealpost-data/log-verifier-key.txt)")
	fs.BoolVar(&s.tofu, "trust-on-first-use", false, "without --log-key: take the log key from the server the first time and hold it to that key after (trusts the first connection)")
	fs.Var(&s.witnesses, "witness", "accept only log checkpoints cosigned by this witness (its cosignature verifier `key`); repeatable")
	fs.IntVar(&s.quorum, "witness-quorum", 0, "how many of the --witness keys must have cosigned a checkpoint (default: all)")
	fs.BoolVar(&s.anonymous, "anonymous", false, "send to other accounts on anonymous relay connections, each send paid with a one-time send token, so the relay cannot tell who sent it (typing and presence too)")
	fs.StringVar(&s.proxy, "proxy", "", "connect to the servers through this SOCKS5 proxy, `host:port` (Tor: 127.0.0.1:9050): hides this machine's address")
	if invite {
		fs.StringVar(&s.invite, "invite", "", "invite `code` for an invite-only server")
	}
}

// readLogKey returns arg if it is a log verifier key, else the key in the
// file arg names.
func readLogKey(arg string) (string, error) {
	if _, err := kt.NewVerifier(arg); err == nil {
		return arg, nil
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return "", fmt.Errorf("not a log verifier key, nor a file holding one: %v", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// config checks the flags and returns the settings they describe.
func (s *serverFlags) config() (*fileConfig, error) {
	c := &fileConfig{Server: s.server, Relay: s.relay, Blobs: s.blobs, Pin: s.pin, CAFile: s.ca, TrustOnFirstUse: s.tofu,
		Witnesses: s.witnesses, WitnessQuorum: s.quorum, Anonymous: s.anonymous, Proxy: s.proxy}
	if s.pin != "" && s.ca != "" {
		return nil, usagef("--pin and --ca exclude each other")
	}
	if c.CAFile != "" {
		abs, err := filepath.Abs(c.CAFile)
		if err != nil {
			return nil, usagef("--ca %q: %v", c.CAFile, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, usagef("--ca: %v", err)
		}
		c.CAFile = abs
	}
	if err := c.validate(); err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	switch {
	case s.logKey != "" && s.tofu:
		return nil, usagef("--log-key and --trust-on-first-use exclude each other")
	case s.logKey == "" && !s.tofu:
		return nil, usagef("--log-key is required: the key server's log verifier key, which sealpostd prints and writes to sealpost-data/log-verifier-key.txt (or, trusting the first connection, --trust-on-first-use)")
	case s.logKey != "":
		k, err := readLogKey(s.logKey)
		if err != nil {
			return nil, usagef("--log-key: %v", err)
		}
		c.LogKey = k
	}
	if err := c.validate(); err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	return c, nil
}

// validate checks c and normalises the pin.
func (c *fileConfig) validate() error {
	var errs []error
	if err := checkURL(c.Server, "https"); err != nil {
		errs = append(errs, fmt.Errorf("server %q: %v", c.Server, err))
	}
	if c.Relay != "" {
		if err := checkURL(c.Relay, "wss"); err != nil {
			errs = append(errs, fmt.Errorf("relay %q: %v", c.Relay, err))
		}
	}
	if c.Blobs != "" {
		if err := checkURL(c.Blobs, "https"); err != nil {
			errs = append(errs, fmt.Errorf("blobs %q: %v", c.Blobs, err))
		}
	}
	if c.Pin != "" {
		fp, err := tlsconfig.ParseFingerprint(c.Pin)
		if err != nil {
			errs = append(errs, fmt.Errorf("pin %q: want 64 hex digits", c.Pin))
		} else {
			c.Pin = fp.String()
		}
	}
	if c.Pin != "" && c.CAFile != "" {
		errs = append(errs, errors.New("pin and ca_file exclude each other"))
	}
	if c.LogKey != "" {
		if _, err := kt.NewVerifier(c.LogKey); err != nil {
			errs = append(errs, fmt.Errorf("log key %q: not a log verifier key (%v)", c.LogKey, err))
		}
	}
	if c.LogKey != "" && c.TrustOnFirstUse {
		errs = append(errs, errors.New("log_key and trust_on_first_use exclude each other"))
	}
	for i, w := range c.Witnesses {
		if _, err := kt.ParseWitness(w); err != nil {
			errs = append(errs, fmt.Errorf("witness %q: not a witness verifier key (%v)", w, err))
		} else if slices.Contains(c.Witnesses[:i], w) {
			errs = append(errs, fmt.Errorf("witness %q given twice", w))
		}
	}
	if c.Proxy != "" {
		if _, _, err := net.SplitHostPort(c.Proxy); err != nil {
			errs = append(errs, fmt.Errorf("proxy %q: want host:port", c.Proxy))
		}
	}
	if c.WitnessQuorum < 0 || c.WitnessQuorum > len(c.Witnesses) {
		errs = append(errs, fmt.Errorf("witness quorum %d: want 1 to the number of witnesses (%d), or 0 for all", c.WitnessQuorum, len(c.Witnesses)))
	}
	return errors.Join(errs...)
}

// checkURL checks an absolute URL with the given scheme, a host and a
// port, and nothing secret (no user:password).
func checkURL(raw, scheme string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != scheme {
		return fmt.Errorf("want a %s:// URL", scheme)
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	if u.User != nil {
		return errors.New("credentials in the URL")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("bad port %q", p)
		}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("query or fragment in the URL")
	}
	return nil
}

// loadConfig reads DIR/config.json. A missing file is client.ErrNoStore.
func loadConfig(dir string) (*fileConfig, error) {
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no sealpost configuration in %s: %w", dir, client.ErrNoStore)
	}
	if err != nil {
		return nil, err
	}
	var c fileConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, configFile), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the JSON object", filepath.Join(dir, configFile))
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, configFile), err)
	}
	return &c, nil
}

// saveConfig writes DIR/config.json with mode 0600, creating DIR (0700)
// if needed. It refuses to replace an existing file.
func saveConfig(dir string, c *fileConfig) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeIgnoreFile(dir); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	// A hard link never replaces: a concurrent init loses cleanly.
	err = writePrivateFile(filepath.Join(dir, configFile), false, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s %w", dir, errStoreExists)
	}
	return err
}

// ignoreFile keeps a store directory out of version control wherever it
// is created (--dir may name any directory, in a repository too), as
// Python's venv does: the store holds the device's encrypted keys and
// messages, never to be committed.
const ignoreFile = "# Created by sealpost: this directory holds a device's encrypted keys and\n# messages. Never commit it.\n*\n"

// writeIgnoreFile writes DIR/.gitignore unless one exists.
func writeIgnoreFile(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, ".gitignore"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(ignoreFile); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkFresh refuses a directory that already holds a store or a
// configuration.
func checkFresh(dir string) error {
	for _, name := range []string{configFile, "state.db", "key.age"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("%s %w (%s exists)", dir, errStoreExists, name)
		}
	}
	return nil
}

// clientConfig is the client configuration for the store in dir.
func (a *app) clientConfig(c *fileConfig) client.Config {
	cfg := client.Config{
		Dir:       a.dir,
		KeyServer: c.Server,
		Relay:     c.Relay,
		Blobs:     c.Blobs,
		CAFile:    c.CAFile,
		Pin:       c.Pin,
		LogKey:    c.LogKey,
		Logger:    a.logger(),
		// A configuration without a log key opted in at init.
		TrustOnFirstUse: c.TrustOnFirstUse,
		Witnesses:       c.Witnesses,
		WitnessQuorum:   c.WitnessQuorum,

		NoDeliveryReceipts: a.noReceipts,
		NoReadReceipts:     a.noReceipts,
	}
	if c.Anonymous {
		cfg.SendMode = client.SendAnonymous
	}
	if c.Proxy != "" {
		dial, err := client.SOCKS5(c.Proxy)
		if err != nil {
			// Never around the proxy: every connection fails instead.
			dial = func(context.Context, string, string) (net.Conn, error) { return nil, err }
		}
		cfg.Dial = dial
	}
	if s := a.getenv("SEALPOST_TEST_WORKFACTOR"); s != "" {
		// Test only: a small scrypt work factor keeps tests fast.
		if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 31 {
			cfg.WorkFactor = n
		}
	}
	return cfg
}
