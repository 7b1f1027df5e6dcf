package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	kssqlite "github.com/sealpost/sealpost/keyserver/store/sqlite"
	"github.com/sealpost/sealpost/relay"
	relaysqlite "github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/tlsconfig"
)

// Two people, alice and bob, each with a client in their own directory,
// against one key server and relay (here started in-process; in real use,
// sealpostd, which prints its URL, certificate fingerprint and log key).
// The part between the README markers is, verbatim, the library snippet
// of README.md (TestREADMESnippet checks it).
func Example() {
	ctx := context.Background()
	srv, stop := demoServers()
	defer stop()
	bob := demoUser(srv, "bob")
	defer bob.Close()
	dir, passphrase := tempDir(), []byte("a long passphrase only alice knows")
	keyServer, pin, logKey := srv.URL, srv.Pin, srv.LogKey

	// README snippet begin
	alice, err := client.Open(ctx, client.Config{
		Dir:        dir,        // this device's store; Create makes it
		Passphrase: passphrase, // encrypts the store
		Create:     true,
		KeyServer:  keyServer, // "https://127.0.0.1:8443", as sealpostd prints it
		Pin:        pin,       // the TLS certificate fingerprint sealpostd prints
		LogKey:     logKey,    // the key directory's log key sealpostd prints
	})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	if err := alice.Register(ctx, "alice"); err != nil {
		log.Fatal(err)
	}
	// Send returns once the relay has stored the sealed envelopes.
	if _, err := alice.Send(ctx, "bob", []byte("hello bob")); err != nil {
		log.Fatal(err)
	}
	// bob's client, opened the same way in its own directory, receives:
	m := <-bob.Messages()
	fmt.Printf("%s (device %d) to %s: %s\n", m.From, m.FromDevice, m.To, m.Plaintext)
	m.Ack() // the app has it for good: the client forgets it, the next one comes
	// README snippet end

	if _, err := bob.Send(ctx, "alice", []byte("hi alice")); err != nil {
		log.Fatal(err)
	}
	m = <-alice.Messages()
	fmt.Printf("%s: %s\n", m.From, m.Plaintext)
	m.Ack()
	// Output:
	// alice (device 1) to bob: hello bob
	// bob: hi alice
}

// TestREADMESnippet checks that the Go snippet of README.md is, line for
// line, the part of Example between the README markers (one tab less
// indented), so that the README shows code that compiles and runs.
func TestREADMESnippet(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n```go\n")
	if !ok {
		t.Fatal("README.md has no ```go block")
	}
	snippet, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatal("README.md's ```go block does not end")
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, part, ok := strings.Cut(string(src), "\t// README snippet begin\n")
	if !ok {
		t.Fatal("no README snippet begin marker in example_test.go")
	}
	part, _, ok = strings.Cut(part, "\t// README snippet end\n")
	if !ok {
		t.Fatal("no README snippet end marker in example_test.go")
	}
	var want strings.Builder
	for _, line := range strings.SplitAfter(part, "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	if snippet != want.String() {
		t.Errorf("README.md's Go snippet is not Example's part between the markers.\nREADME:\n%s\nexample_test.go:\n%s", snippet, want.String())
	}
}

// Users compare safety numbers (in person, or by scanning the compact
// form as a QR code); when they match, MarkVerified makes a later change
// of the contact's key stop Send until the user accepts it.
func ExampleClient_SafetyNumber() {
	ctx := context.Background()
	srv, stop := demoServers()
	defer stop()
	alice, bob := demoUser(srv, "alice"), demoUser(srv, "bob")
	defer alice.Close()
	defer bob.Close()

	a, err := alice.SafetyNumber(ctx, "bob")
	if err != nil {
		log.Fatal(err)
	}
	b, err := bob.SafetyNumber(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	// Bob scans the code on alice's screen.
	if err := b.MatchCompact(a.Compact()); err != nil {
		log.Fatal("safety numbers differ: do not trust this contact")
	}
	if err := bob.MarkVerified(ctx, "alice", b); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(a.Groups()), "groups of 5 digits; verified")
	// Output:
	// 12 groups of 5 digits; verified
}

// A backup holds the account key, contacts and pinned checkpoint,
// encrypted with age to a passphrase; Restore turns it into a new device of
// the account.
func ExampleRestore() {
	ctx := context.Background()
	srv, stop := demoServers()
	defer stop()
	alice := demoUser(srv, "alice")
	defer alice.Close()

	var backup bytes.Buffer
	if err := alice.ExportBackup(ctx, &backup, []byte("backup passphrase")); err != nil {
		log.Fatal(err)
	}
	laptop, err := client.Restore(ctx, client.Config{
		Dir: tempDir(), Passphrase: []byte("laptop passphrase"),
		KeyServer: srv.URL, Pin: srv.Pin, LogKey: srv.LogKey, WorkFactor: 10, Logger: quiet,
	}, &backup, []byte("backup passphrase"))
	if err != nil {
		log.Fatal(err)
	}
	defer laptop.Close()
	devices, err := laptop.Devices(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range devices {
		fmt.Printf("device %d current=%v\n", d.ID, d.Current)
	}
	// Output:
	// device 1 current=false
	// device 2 current=true
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// demoUser opens a client in a new directory and registers handle.
func demoUser(srv demo, handle string) *client.Client {
	c, err := client.Open(context.Background(), client.Config{
		Dir: tempDir(), Passphrase: []byte("passphrase of " + handle), Create: true,
		KeyServer: srv.URL, Pin: srv.Pin, LogKey: srv.LogKey, WorkFactor: 10, Logger: quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Register(context.Background(), handle); err != nil {
		log.Fatal(err)
	}
	return c
}

var tempDirs []string

func tempDir() string {
	d, err := os.MkdirTemp("", "sealpost-example-")
	if err != nil {
		log.Fatal(err)
	}
	tempDirs = append(tempDirs, d)
	return d
}

// demo is what a client needs to know of the servers: sealpostd prints
// the certificate fingerprint and the log verifier key.
type demo struct{ URL, Pin, LogKey string }

// demoServers starts a key server and a relay on 127.0.0.1 as sealpostd
// would, on SQLite files in a temporary directory.
func demoServers() (demo, func()) {
	dir := tempDir()
	ksdb, err := kssqlite.Open(filepath.Join(dir, "keyserver.db"))
	if err != nil {
		log.Fatal(err)
	}
	q, err := relaysqlite.Open(filepath.Join(dir, "relay.db"))
	if err != nil {
		log.Fatal(err)
	}
	_, tokenKey, _ := ed25519.GenerateKey(rand.Reader)
	_, logKey, _ := ed25519.GenerateKey(rand.Reader)
	vrfKey, err := vrf.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	ks, err := keyserver.New(keyserver.Config{Name: "example", Store: ksdb, TokenKey: tokenKey, LogKey: logKey, VRFKey: vrfKey,
		RelayAudiences: []string{"relay:example"}, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	rs, err := relay.New(relay.Config{Name: "example", Queue: q,
		TokenKeys: []ed25519.PublicKey{tokenKey.Public().(ed25519.PublicKey)}, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	cert, _, err := tlsconfig.LoadOrCreate(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", ks.Handler())
	mux.Handle(relay.Path, rs.Handler())
	srv := httptest.NewUnstartedServer(mux)
	if srv.TLS, err = tlsconfig.ServerConfig(cert); err != nil {
		log.Fatal(err)
	}
	srv.StartTLS()
	vkey, err := directory.VerifierKey("example", logKey.Public().(ed25519.PublicKey))
	if err != nil {
		log.Fatal(err)
	}
	return demo{srv.URL, tlsconfig.FingerprintOf(cert.Certificate[0]).String(), vkey}, func() {
		rs.Shutdown(context.Background())
		srv.Close()
		ks.Close()
		ksdb.Close()
		q.Close()
		for _, d := range tempDirs {
			os.RemoveAll(d)
		}
		tempDirs = nil
	}
}
