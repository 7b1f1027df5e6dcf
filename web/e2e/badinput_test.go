package e2e_test

// Bad input (issue 21): a server that goes away mid-conversation, a
// certificate the browser refuses, a browser that gives the store no more
// room, and a second tab opening the same store. Each is shown to the user
// in words, and nothing is lost. (A wrong passphrase and a cleared store:
// TestWrongPassphrase, TestStoreStates.)

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/sealpost/sealpost/internal/testbin"
)

// connState is a JavaScript expression: the page shows the relay
// connection in state s.
func connState(s string) string {
	return fmt.Sprintf(`document.getElementById("conn").dataset.state === %q`, s)
}

// shownTexts returns the texts of the conversation view and fails the
// test if a message id is shown twice.
func (b *browser) shownTexts() []string {
	b.t.Helper()
	var texts []string
	seen := map[string]bool{}
	for _, m := range b.messages() {
		if seen[m.ID] {
			b.t.Errorf("%s: message %s (%q) shown twice", b.name, m.ID, m.Text)
		}
		seen[m.ID] = true
		texts = append(texts, m.Text)
	}
	return texts
}

// reopen reloads the page and opens alice's store and the conversation
// with peer again.
func (b *browser) reopen(passphrase, peer string) {
	b.t.Helper()
	b.run(reload())
	b.waitFor("the client loaded", visible("open"))
	b.open("sealpost", passphrase, false)
	b.chat(peer)
}

// TestRelayDown: sealpostd goes away mid-conversation. The page shows the
// connection lost and says what that means; a message written meanwhile
// is kept and shown as not sent yet, goes out once sealpostd is back (on
// the same address and data), and is shown and delivered once.
func TestRelayDown(t *testing.T) {
	chromium(t)
	srv := startServer(t)
	carol := newCLI(t, srv, "carol")
	carol.init("carol")
	alice := newUser(t, srv, "alice")
	alice.waitFor("connected", connState("connected"))
	alice.chat("carol")
	alice.send("before")
	carol.run("listen", "--count", "1", "--timeout", "60s")
	carol.run("send", "alice", "reply")
	alice.waitText("reply")

	srv.stop()
	alice.waitFor("the connection lost", connState("disconnected")+" && "+visible("offline-note"))
	var note string
	alice.eval(`document.getElementById("offline-note").textContent`, &note)
	for _, want := range []string{"Lost the connection", srv.url, "kept", "certificate"} {
		if !strings.Contains(note, want) {
			t.Errorf("the disconnected note lacks %q: %q", want, note)
		}
	}

	alice.trySend("while down")
	queued := `[...document.querySelectorAll("#messages li.outgoing.queued .text")].some(e => e.textContent === "while down")`
	alice.waitFor("the message shown as queued", queued+" || "+visible("error"))
	// Every send looks the recipient's keys up afresh, and the key
	// server is down too: the client queues nothing, the page keeps the
	// message and tries again with the same id ("queued" if the client
	// had queued it).
	if code, text := alice.shownError(); (code != "queued" && code != "unreachable") || !strings.Contains(text, "kept") {
		t.Fatalf("a send while the server is down: code %q, %q", code, text)
	}
	var left string
	alice.eval(`document.getElementById("send-text").value`, &left)
	if left != "" {
		t.Errorf("the queued message is still in the input (%q): sending it again would repeat it", left)
	}
	alice.waitFor("the message shown as queued", queued)
	var meta string
	alice.eval(`document.querySelector("#messages li.queued .meta").textContent`, &meta)
	if !strings.Contains(meta, "not sent yet") {
		t.Errorf("the queued message's note: %q", meta)
	}

	srv.restart(t)
	alice.waitFor("connected again", connState("connected")+" && !("+visible("offline-note")+")")
	alice.waitFor("the message sent", `!document.querySelector("#messages li.queued") && [...document.querySelectorAll("#messages li.outgoing")].some(li => li.querySelector(".text").textContent === "while down" && li.dataset.state !== "queued")`)
	alice.noError("once the message went out")
	if out := carol.run("listen", "--count", "1", "--timeout", "60s"); !strings.Contains(out, "while down") {
		t.Fatalf("carol's listen after the restart: %q", out)
	}
	carol.run("send", "alice", "back")
	alice.waitText("back")
	want := "before,reply,while down,back"
	if got := strings.Join(alice.shownTexts(), ","); got != want {
		t.Fatalf("alice's conversation: %q, want %q", got, want)
	}
	// Nothing comes twice: not to carol, not in alice's page after a
	// reload.
	if out, _ := carol.try("listen", "--count", "1", "--timeout", "3s"); strings.Contains(out, "while down") {
		t.Errorf("carol got the queued message twice: %q", out)
	}
	alice.reopen("passphrase of alice", "carol")
	alice.waitText("back")
	if got := strings.Join(alice.shownTexts(), ","); got != want {
		t.Fatalf("alice's conversation after a reload: %q, want %q", got, want)
	}
	var queuedLeft int
	alice.eval(`document.querySelectorAll("#messages li.queued").length`, &queuedLeft)
	if queuedLeft != 0 {
		t.Errorf("%d messages still shown as queued after a reload", queuedLeft)
	}
}

// TestCertificateRefused: sealpostd comes back with a certificate the
// browser does not accept (another self-signed one). The page cannot
// connect and says what the user can check: the browser does not tell a
// page why a connection failed, so the message names both causes. A
// message written meanwhile is kept, and goes out once sealpostd has the
// certificate the browser trusts again.
func TestCertificateRefused(t *testing.T) {
	chromium(t)
	srv := startServer(t)
	carol := newCLI(t, srv, "carol")
	carol.init("carol")
	alice := newUser(t, srv, "alice")
	alice.waitFor("connected", connState("connected"))
	alice.chat("carol")
	alice.send("hello")
	carol.run("listen", "--count", "1", "--timeout", "60s")

	certFile, keyFile, pool := selfSigned(t)
	srv.restart(t, "--tls-cert", certFile, "--tls-key", keyFile)
	// sealpostd is up: a client that trusts the new certificate gets the
	// page.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := hc.Get(srv.url + "/web/")
	if err != nil {
		t.Fatalf("sealpostd with the new certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sealpostd with the new certificate: %s", resp.Status)
	}

	alice.waitFor("the connection lost", connState("disconnected")+" && "+visible("offline-note"))
	alice.trySend("while refused")
	queued := `[...document.querySelectorAll("#messages li.outgoing.queued .text")].some(e => e.textContent === "while refused")`
	alice.waitFor("the message kept", queued+" && "+visible("error"))
	code, text := alice.shownError()
	if code != "unreachable" {
		t.Fatalf("a server whose certificate the browser refuses: code %q, %q", code, text)
	}
	for _, want := range []string{"certificate", "open " + srv.url + " in a new tab", "kept"} {
		if !strings.Contains(text, want) {
			t.Errorf("the message lacks %q: %q", want, text)
		}
	}
	var note string
	alice.eval(`document.getElementById("offline-note").textContent`, &note)
	if !strings.Contains(note, "certificate") || !strings.Contains(note, "open "+srv.url+" in a new tab") {
		t.Errorf("the disconnected note: %q", note)
	}
	// The relay link keeps trying (every 2 s at most) and keeps failing.
	time.Sleep(3 * time.Second)
	var state string
	alice.eval(`document.getElementById("conn").dataset.state`, &state)
	if state == "connected" || !alice.visibleNow("error") {
		t.Fatalf("with a refused certificate: connection %q", state)
	}

	// The trusted certificate is back (sealpostd's own, in its data
	// directory): the message goes out, once.
	srv.restart(t)
	alice.waitFor("connected again", connState("connected"))
	alice.waitFor("the message sent", `!document.querySelector("#messages li.queued")`)
	if out := carol.run("listen", "--count", "1", "--timeout", "60s"); !strings.Contains(out, "while refused") {
		t.Fatalf("carol's listen: %q", out)
	}
	if got := strings.Join(alice.shownTexts(), ","); got != "hello,while refused" {
		t.Fatalf("alice's conversation: %q", got)
	}
}

// selfSigned writes a new self-signed certificate for 127.0.0.1 and its
// key, and returns their files and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "another sealpostd"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// clearShownError hides the error the page shows, so that a wait sees
// only the next one.
func (b *browser) clearShownError() {
	b.t.Helper()
	b.run(do(`{ const e = document.getElementById("error"); e.hidden = true; e.textContent = ""; delete e.dataset.code; }`))
}

// visibleNow reports whether the element with id is shown.
func (b *browser) visibleNow(id string) bool {
	b.t.Helper()
	var shown bool
	b.eval(visible(id), &shown)
	return shown
}

// setQuota sets the storage quota of the page's origin (IndexedDB and the
// rest) to bytes; 0 lifts the override.
func (b *browser) setQuota(bytes float64) {
	b.t.Helper()
	p := storage.OverrideQuotaForOriginParams{Origin: b.srv.url}
	if bytes > 0 {
		p.QuotaSize = &bytes
	}
	b.run(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, storage.OverrideQuotaForOrigin, p)
		return chromedp.Void{}, err
	})
}

// storeFullQuota is TestStoreFull's storage quota: a new registered store
// takes about 0.7 MiB, a message of 12 kB about 35 kB more.
const storeFullQuota = 2 << 20

// TestStoreFull: the browser gives the store little room and alice writes
// until it has none. The page says the store is full and keeps the text
// that was not sent; once the browser gives room again, every message
// shown before is still there after a reload.
func TestStoreFull(t *testing.T) {
	chromium(t)
	srv := startServer(t)
	carol := newCLI(t, srv, "carol")
	carol.init("carol")
	// Room for the store and a few dozen messages. Chromium enforces a
	// quota override only if it came before the origin first used
	// storage: one set later is reported (Storage.getUsageAndQuota) but
	// not applied.
	alice := newBrowser(t, srv, "alice")
	alice.setQuota(storeFullQuota)
	alice.load()
	alice.open("sealpost", "passphrase of alice", true)
	alice.register("alice")
	alice.chat("carol")
	alice.send("first")

	var (
		shown []string
		full  string
	)
	for i := range 200 {
		// Texts that do not compress (the store is sealed anyway).
		text := fmt.Sprintf("%03d %s", i, strings.Repeat(fmt.Sprintf("%x", i*7919+13), 12000/8))
		alice.trySend(text)
		alice.waitFor("sent or refused", fmt.Sprintf(`[...document.querySelectorAll("#messages li.outgoing .text")].some(e => e.textContent === %s) || %s`, js(text), visible("error")))
		if alice.visibleNow("error") {
			full = text
			break
		}
		shown = append(shown, text)
	}
	if full == "" {
		t.Fatalf("the store never filled up after %d messages", len(shown))
	}
	code, text := alice.shownError()
	if code != "store_full" || !strings.Contains(text, "more space") {
		t.Fatalf("after %d messages: code %q, %q", len(shown), code, text)
	}
	var left string
	alice.eval(`document.getElementById("send-text").value`, &left)
	if left != full {
		t.Errorf("the refused message is not left in the input to send again (%d bytes there)", len(left))
	}
	before := alice.shownTexts()
	if len(before) != len(shown)+1 { // "first", and shown
		t.Fatalf("alice's page shows %d messages, want %d", len(before), len(shown)+1)
	}
	t.Logf("the store was full after %d messages", len(shown))

	alice.setQuota(0)
	alice.reopen("passphrase of alice", "carol")
	alice.waitFor("the history shown", fmt.Sprintf(`document.querySelectorAll("#messages li").length >= %d`, len(before)))
	after := alice.shownTexts()
	for i, s := range before {
		if i >= len(after) || after[i] != s {
			t.Fatalf("after the reload message %d is missing or changed (%d messages shown, %d before)", i, len(after), len(before))
		}
	}
	// The store takes messages again.
	alice.send("after")
	if out := carol.run("listen", "--count", "1", "--timeout", "60s"); !strings.Contains(out, "first") {
		t.Fatalf("carol's listen: %.200q", out)
	}
}

// newTab opens another tab of b's browser (another page target, in a
// window of its own, sharing b's profile and so the origin's IndexedDB
// and Web Locks). Closing it (the returned function) closes the tab.
//
// A window of its own is chromedp's default, and needed: a tab opened in
// the first tab's window (chromedp.WithNewWindow(false)) navigates, but
// Runtime.evaluate in it never answers, even after target.ActivateTarget
// (Chromium 156, chromedp 0.23.1).
func (b *browser) newTab(name string) (*browser, func()) {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	tab := &browser{t: b.t, name: name, srv: b.srv, ctx: ctx, logs: new(testbin.SyncBuffer)}
	if err := chromedp.Listen(ctx, consoleListener(tab.logs)); err != nil {
		cancel()
		b.t.Fatalf("%s: opening a tab: %v", name, err)
	}
	closed := false
	b.t.Cleanup(func() {
		if b.t.Failed() && !closed {
			tab.screenshot()
			b.t.Logf("%s's page console:\n%s", name, tab.logs.String())
		}
		cancel()
	})
	return tab, func() {
		closed = true
		if b.t.Failed() {
			tab.screenshot()
		}
		cancel()
	}
}

// TestSecondTab: two tabs of one browser open the same store at once. One
// opens it; the other says the store is open in another tab, and the first
// goes on undisturbed. Once the first tab is closed, the second opens it.
func TestSecondTab(t *testing.T) {
	chromium(t)
	srv := startServer(t)
	carol := newCLI(t, srv, "carol")
	carol.init("carol")
	alice := newBrowser(t, srv, "alice")
	alice.run(navigate("about:blank")) // the browser's first tab stays blank
	tab1, close1 := alice.newTab("alice-tab1")
	tab2, close2 := alice.newTab("alice-tab2")
	tab1.load()
	tab1.open("sealpost", "passphrase of alice", true)
	tab1.register("alice")
	tab1.run(reload())
	tab1.waitFor("the client loaded", visible("open"))
	tab2.load()

	// Both at once.
	tab1.submitOpen("sealpost", "passphrase of alice", false)
	tab2.submitOpen("sealpost", "passphrase of alice", false)
	settled := visible("main") + " || " + visible("error")
	tab1.waitFor("open or refused", settled)
	tab2.waitFor("open or refused", settled)
	winner, loser, closeWinner := tab1, tab2, close1
	if !tab1.visibleNow("main") {
		winner, loser, closeWinner = tab2, tab1, close2
	}
	if !winner.visibleNow("main") || loser.visibleNow("main") {
		t.Fatalf("tab 1 open: %v, tab 2 open: %v; want exactly one", tab1.visibleNow("main"), tab2.visibleNow("main"))
	}
	code, text := loser.shownError()
	if code != "locked" || !strings.Contains(text, "open in another tab") {
		t.Fatalf("%s: code %q, %q", loser.name, code, text)
	}
	t.Logf("%s opened the store; %s was told %q", winner.name, loser.name, text)

	// The winner goes on; the loser's second try is refused too while it
	// does.
	winner.noError("after the other tab's try")
	winner.chat("carol")
	winner.send("from the first tab")
	loser.clearShownError()
	loser.submitOpen("sealpost", "passphrase of alice", false)
	loser.waitFor("refused again", `document.getElementById("error").dataset.code === "locked"`)

	// The tab closed, its Web Lock is released with its page: a try
	// (the user's next click) opens the store.
	closeWinner()
	for try := 0; ; try++ {
		loser.clearShownError()
		loser.submitOpen("sealpost", "passphrase of alice", false)
		loser.waitFor("open or refused", settled)
		if loser.visibleNow("main") {
			break
		}
		if code, text := loser.shownError(); code != "locked" || try == 20 {
			t.Fatalf("%s, after the other tab closed: code %q, %q", loser.name, code, text)
		}
		time.Sleep(250 * time.Millisecond)
	}
	loser.chat("carol")
	loser.waitFor("the first tab's message", `[...document.querySelectorAll("#messages li.outgoing .text")].some(e => e.textContent === "from the first tab")`)
	loser.send("from the second tab")
	out := carol.run("listen", "--count", "2", "--timeout", "60s")
	if !strings.Contains(out, "from the first tab") || !strings.Contains(out, "from the second tab") {
		t.Fatalf("carol's listen: %q", out)
	}
	if n := bytes.Count([]byte(out), []byte("from the first tab")); n != 1 {
		t.Errorf("carol got the first tab's message %d times", n)
	}
}
