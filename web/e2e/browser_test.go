package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sealpost/sealpost/internal/testbin"
)

// requireChromiumEnv names the environment variable that, set to 1 (as CI
// does), makes a missing Chromium fail the tests rather than skip them.
const requireChromiumEnv = "SEALPOST_REQUIRE_CHROMIUM"

// chromium returns the Chromium to run: $SEALPOST_CHROMIUM, else
// /usr/bin/chromium. Without one the test fails if
// $SEALPOST_REQUIRE_CHROMIUM is 1, and is skipped otherwise; it is
// skipped with -short.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs sealpostd and Chromium")
	}
	p := os.Getenv("SEALPOST_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv(requireChromiumEnv) == "1" {
			t.Fatalf("no Chromium at %s (set SEALPOST_CHROMIUM), and %s=1 requires one", p, requireChromiumEnv)
		}
		t.Skipf("no Chromium at %s (set SEALPOST_CHROMIUM; %s=1 makes this a failure)", p, requireChromiumEnv)
	}
	return p
}

// TestChromiumRequired: without a Chromium the tests fail when
// SEALPOST_REQUIRE_CHROMIUM=1 and skip otherwise (run in a child process
// of this test binary, which runs TestChromiumRequiredChild).
func TestChromiumRequired(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	for _, tc := range []struct{ require, want string }{
		{"1", "--- FAIL: TestChromiumRequiredChild"},
		{"", "--- SKIP: TestChromiumRequiredChild"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChromiumRequiredChild$", "-test.v")
		cmd.Env = append(os.Environ(), "SEALPOST_E2E_CHILD=1", "SEALPOST_CHROMIUM=/nonexistent/chromium", requireChromiumEnv+"="+tc.require)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s=%q: output lacks %q:\n%s", requireChromiumEnv, tc.require, tc.want, out)
		}
	}
}

// TestChromiumRequiredChild looks for a Chromium, in TestChromiumRequired's
// child process only.
func TestChromiumRequiredChild(t *testing.T) {
	if os.Getenv("SEALPOST_E2E_CHILD") != "1" {
		t.Skip("run by TestChromiumRequired")
	}
	chromium(t)
	t.Error("chromium returned without a Chromium")
}

// browser is one Chromium with a profile of its own (its own IndexedDB):
// one person's browser.
type browser struct {
	t    *testing.T
	name string
	srv  *server
	ctx  context.Context
	logs *testbin.SyncBuffer // the page's console and exceptions
	// debugLog loads the page with the client's debug log on its
	// console (the timings of each send's phases).
	debugLog bool
}

// newBrowser starts a headless Chromium that trusts srv's certificate by
// its public key, and nothing else it would not trust anyway.
func newBrowser(t *testing.T, srv *server, name string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", srv.spki),
		chromedp.WindowSize(1100, 900),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, name: name, srv: srv, ctx: ctx, logs: new(testbin.SyncBuffer)}
	if err := chromedp.Listen(ctx, consoleListener(b.logs)); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting Chromium: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot()
			t.Logf("%s's page console:\n%s", name, b.logs.String())
		}
		cancel()
		cancelAlloc()
	})
	return b
}

// consoleListener returns a chromedp listener that writes the page's
// console and exceptions to logs.
func consoleListener(logs *testbin.SyncBuffer) func(ev any) {
	return func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
			fmt.Fprintf(logs, "console.%s: %s\n", ev.Type, strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			fmt.Fprintf(logs, "exception: %s (%s:%d)\n", desc, d.URL, d.LineNumber+1)
		}
	}
}

// screenshot saves the page as PNG in $SEALPOST_ARTIFACTS (default: a
// temporary directory of the test).
func (b *browser) screenshot() {
	dir := os.Getenv("SEALPOST_ARTIFACTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		b.t.Logf("screenshot of %s: %v", b.name, err)
		return
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(b.t.Name()+"-"+b.name, "_") + ".png"
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot of %s: %v", b.name, err)
		return
	}
	b.t.Logf("screenshot of %s's page: %s", b.name, path)
}

// run runs actions within 60 s.
func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", b.name, err)
	}
}

// eval evaluates a JavaScript expression into out (through JSON).
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify(("+expr+") ?? null)"))
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, expr, err)
	}
	if err := json.Unmarshal([]byte(raw), out); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, expr, err)
	}
}

// evalAwait evaluates a JavaScript expression that gives a Promise, and
// its outcome into out.
func (b *browser) evalAwait(expr string, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string]("(async () => JSON.stringify((await ("+expr+")) ?? null))()", chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, expr, err)
	}
	if err := json.Unmarshal([]byte(raw), out); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, expr, err)
	}
}

// clickID clicks the element with id.
func clickID(id string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.ID(id)) }

// setID sets the value of the input with id.
func setID(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.ID(id), value)
}

func navigate(url string) chromedp.Action[chromedp.Void] { return chromedp.Navigate(url) }

func reload() chromedp.Action[chromedp.Void] { return chromedp.Reload() }

// do evaluates JavaScript for its effect; await waits for the Promise
// it gives.
func do(expr string, await ...bool) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		var opts []chromedp.EvaluateOption
		if len(await) > 0 && await[0] {
			opts = append(opts, chromedp.EvalAwaitPromise)
		}
		_, err := chromedp.Evaluate[any](expr, opts...)(ctx, t)
		return chromedp.Void{}, err
	}
}

// shownError returns the code and text of the error the page shows.
func (b *browser) shownError() (code, text string) {
	b.t.Helper()
	b.eval(`document.getElementById("error").dataset.code || ""`, &code)
	b.eval(`document.getElementById("error").textContent`, &text)
	return code, text
}

// waitFor polls a JavaScript expression until it is true, for up to 60 s.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ok bool
		b.eval("!!("+expr+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var errText string
			b.eval(`document.getElementById("error").textContent`, &errText)
			b.t.Fatalf("%s: %s: not after 60 s (error shown: %q)", b.name, what, errText)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// visible is a JavaScript expression: the element with id is shown.
func visible(id string) string { return fmt.Sprintf(`!document.getElementById(%q).hidden`, id) }

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// load opens the page and waits until the client is loaded.
func (b *browser) load() {
	b.t.Helper()
	// workFactor: a cheap scrypt for the test's new stores.
	url := b.srv.url + "/web/?workFactor=10"
	if b.debugLog {
		url += "&debugLog"
	}
	b.run(navigate(url))
	b.waitFor("the client loaded", visible("open")+" || "+visible("error"))
	b.noError("loading")
}

// open submits the open form; it does not wait for the outcome.
func (b *browser) submitOpen(store, passphrase string, create bool) {
	b.t.Helper()
	b.run(
		setID("store", store),
		setID("passphrase", passphrase),
		setID("log-key", b.srv.logKey),
		do(fmt.Sprintf(`document.getElementById("create").checked = %v`, create)),
		clickID("open-button"),
	)
}

// open opens (or creates) a store and waits for the register form or
// the chat.
func (b *browser) open(store, passphrase string, create bool) {
	b.t.Helper()
	b.submitOpen(store, passphrase, create)
	b.waitFor("the store open", visible("register")+" || "+visible("main")+" || "+visible("error"))
	b.noError("opening the store")
}

// register registers handle from the register form.
func (b *browser) register(handle string) {
	b.t.Helper()
	b.run(setID("handle", handle), clickID("register-button"))
	b.waitFor("registered", visible("main")+" || "+visible("error"))
	b.noError("registering")
}

// noError fails the test if the page shows an error.
func (b *browser) noError(what string) {
	b.t.Helper()
	var shown bool
	var text string
	b.eval(visible("error"), &shown)
	if shown {
		b.eval(`document.getElementById("error").textContent`, &text)
		b.t.Fatalf("%s: %s: the page shows an error: %s", b.name, what, text)
	}
}

// chat opens the conversation with peer.
func (b *browser) chat(peer string) {
	b.t.Helper()
	b.run(setID("new-contact", peer), chromedp.Click(chromedp.CSS("#new-contact-form button")))
	b.waitFor("conversation with "+peer, fmt.Sprintf(`document.getElementById("peer").textContent === %s && %s`, js(peer), visible("conversation")))
}

// send sends text in the open conversation and waits until it is sent.
func (b *browser) send(text string) {
	b.t.Helper()
	b.trySend(text)
	b.waitFor("sent "+text, fmt.Sprintf(`document.getElementById("send-text").value === "" && [...document.querySelectorAll("#messages li.outgoing .text")].some(e => e.textContent === %s) || %s`, js(text), visible("error")))
	b.noError("sending")
}

// trySend submits text; it does not wait.
func (b *browser) trySend(text string) {
	b.t.Helper()
	b.run(setID("send-text", text), clickID("send-button"))
}

// shownMessage is a message in the conversation view.
type shownMessage struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Outgoing bool   `json:"outgoing"`
}

// messages returns the conversation view's messages, in order.
func (b *browser) messages() []shownMessage {
	b.t.Helper()
	var ms []shownMessage
	b.eval(`[...document.querySelectorAll("#messages li")].map(li => ({id: li.dataset.id, text: li.querySelector(".text").textContent, outgoing: li.classList.contains("outgoing")}))`, &ms)
	return ms
}

// waitText waits until the conversation view shows an incoming text.
func (b *browser) waitText(text string) {
	b.t.Helper()
	b.waitFor("received "+text, fmt.Sprintf(`[...document.querySelectorAll("#messages li.incoming .text")].some(e => e.textContent === %s)`, js(text)))
}

// safetyNumber opens the safety number view and returns its digits,
// checking that the QR code is shown.
func (b *browser) safetyNumber() string {
	b.t.Helper()
	b.run(clickID("show-safety"))
	b.waitFor("safety number shown", visible("safety")+` && document.getElementById("safety-digits").textContent !== "" && document.getElementById("safety-qr").complete && document.getElementById("safety-qr").naturalWidth > 0`)
	var digits string
	b.eval(`document.getElementById("safety-digits").textContent`, &digits)
	return strings.Join(strings.Fields(digits), "")
}

// timings returns the page's send timings.
func (b *browser) timings() []timing {
	b.t.Helper()
	var ts []timing
	b.eval(`window.sealpostTimings`, &ts)
	return ts
}

type timing struct {
	Peer  string  `json:"peer"`
	First bool    `json:"first"`
	MS    float64 `json:"ms"`
}
