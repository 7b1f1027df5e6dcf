package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
	"github.com/sealpost/sealpost/tlsconfig"
)

// fakeTerminal is a terminal on standard input that answers prompts from
// a script.
type fakeTerminal struct {
	answers []string
	prompts []string
}

func (t *fakeTerminal) IsTerminal() bool { return true }

func (t *fakeTerminal) ReadPassword(prompt string) ([]byte, error) {
	t.prompts = append(t.prompts, prompt)
	if len(t.answers) == 0 {
		return nil, errors.New("no more answers")
	}
	a := t.answers[0]
	t.answers = t.answers[1:]
	return []byte(a), nil
}

// cli runs sealpost in this process.
type cli struct {
	env   map[string]string
	stdin string
	term  terminal // nil: standard input is not a terminal
}

func (c cli) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	s := stdio{
		stdin:  strings.NewReader(c.stdin),
		stdout: &out,
		stderr: &errb,
		term:   c.term,
		getenv: func(k string) string { return c.env[k] },
		loc:    time.UTC,
	}
	if s.term == nil {
		s.term = notTerminal{}
	}
	code = run(context.Background(), args, s)
	return code, out.String(), errb.String()
}

type notTerminal struct{}

func (notTerminal) IsTerminal() bool { return false }
func (notTerminal) ReadPassword(string) ([]byte, error) {
	return nil, errors.New("not a terminal")
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		json bool
		n    int
	}{
		{[]string{"bob", "hi"}, []string{"bob", "hi"}, false, 0},
		{[]string{"--json", "bob", "hi"}, []string{"bob", "hi"}, true, 0},
		{[]string{"bob", "--json", "hi", "--n", "3"}, []string{"bob", "hi"}, true, 3},
		{[]string{"bob", "-"}, []string{"bob", "-"}, false, 0},
		{[]string{"bob", "--", "--json", "-n"}, []string{"bob", "--json", "-n"}, false, 0},
		{[]string{"--", "-x"}, []string{"-x"}, false, 0},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		j := fs.Bool("json", false, "")
		n := fs.Int("n", 0, "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if fmt.Sprint(pos) != fmt.Sprint(tc.pos) || *j != tc.json || *n != tc.n {
			t.Errorf("%q: got %q json=%v n=%d, want %q json=%v n=%d", tc.args, pos, *j, *n, tc.pos, tc.json, tc.n)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	if _, err := parseInterspersed(fs, []string{"bob", "--nope"}); err == nil {
		t.Error("unknown flag after an argument accepted")
	}
}

func TestExitCode(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"other", errors.New("boom"), exitFailure},
		{"usage", usagef("missing HANDLE"), exitUsage},
		{"invalid handle", fmt.Errorf("send: %w", client.ErrInvalidHandle), exitUsage},
		{"wrong passphrase", fmt.Errorf("open: %w", client.ErrWrongPassphrase), exitLocal},
		{"locked", client.ErrLocked, exitLocal},
		{"no store", client.ErrNoStore, exitLocal},
		{"not registered", client.ErrNotRegistered, exitLocal},
		{"corrupt", client.ErrCorrupt, exitLocal},
		{"store exists", fmt.Errorf("/x %w", errStoreExists), exitLocal},
		{"security", fmt.Errorf("claim: %w", client.ErrSecurity), exitSecurity},
		{"key changed", client.ErrKeyChanged, exitSecurity},
		{"safety mismatch", fmt.Errorf("scan: %w", keys.ErrSafetyNumberMismatch), exitSecurity},
		{"security events", errSecurityEvents, exitSecurity},
		{"pin mismatch in url.Error", &url.Error{Op: "Get", URL: "https://x", Err: tlsconfig.ErrPinMismatch}, exitSecurity},
		{"untrusted certificate", &url.Error{Op: "Get", URL: "https://x", Err: &tls.CertificateVerificationError{Err: errors.New("x509: unknown authority")}}, exitSecurity},
		{"connection refused", fmt.Errorf("register: %w", refused), exitNetwork},
		{"url error refused", &url.Error{Op: "Post", URL: "https://x", Err: refused}, exitNetwork},
		{"deadline", fmt.Errorf("send: %w", context.DeadlineExceeded), exitNetwork},
		{"init incomplete, network", &initIncomplete{dir: "/d", err: refused}, exitNetwork},
		{"init incomplete, taken", &initIncomplete{dir: "/d", err: client.ErrHandleTaken}, exitFailure},
		{"too large", client.ErrTooLarge, exitFailure},
		{"unknown handle", fmt.Errorf("client: looking up x: %w", client.ErrUnknownHandle), exitNoAccount},
		{"denied known account", fmt.Errorf("%w: %w", client.ErrSecurity, client.ErrUnknownHandle), exitSecurity},
		{"queued", client.ErrQueued, exitNetwork},
		{"probe refused", &unreachableError{what: "key server", addr: "127.0.0.1:1", step: "dial", err: refused}, exitNetwork},
		{"probe pin", &unreachableError{what: "key server", addr: "127.0.0.1:1", step: "tls", err: tlsconfig.ErrPinMismatch}, exitSecurity},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestEscapeText(t *testing.T) {
	for _, tc := range []struct {
		in        string
		multiline bool
		want      string
	}{
		{"hello, world", false, "hello, world"},
		{"grüße 👩‍💻 日本", false, "grüße 👩‍💻 日本"}, // ZWJ emoji sequence kept
		{"\x1b[2J\x1b]0;pwned\x07", false, `\x1b[2J\x1b]0;pwned\x07`},
		{"a\u009b31mred", false, `a\u009b31mred`}, // 8-bit CSI
		{"bad \xff\xfe utf8", false, `bad \xff\xfe utf8`},
		{"x\u202egnp.exe", false, `x\u202egnp.exe`},
		{"a\u2066b\u2069", false, `a\u2066b\u2069`},
		{`back\slash \x1b`, false, `back\\slash \\x1b`},
		{"tab\tcr\rdel\x7f", false, `tab\tcr\rdel\x7f`},
		{"one\ntwo", false, `one\ntwo`},
		{"one\ntwo", true, "one\n" + continuation + "two"},
		{"line\u2028sep", true, `line\u2028sep`},
		{"nul\x00", false, `nul\x00`},
	} {
		if got := escapeText([]byte(tc.in), tc.multiline); got != tc.want {
			t.Errorf("escapeText(%q, %v) = %q, want %q", tc.in, tc.multiline, got, tc.want)
		}
	}
}

func TestEscapeTextNoControls(t *testing.T) {
	// Whatever the input, the output has no control byte but newline
	// (multiline) and is valid UTF-8 without C1 controls.
	var all []byte
	for i := 0; i < 256; i++ {
		all = append(all, byte(i))
	}
	all = append(all, "\u0085\u009b\u202e\u2028\ufeff"...)
	for _, ml := range []bool{false, true} {
		out := escapeText(all, ml)
		for _, r := range out {
			if (r < 0x20 && !(ml && r == '\n')) || r == 0x7f || unsafeRune(r) {
				t.Fatalf("multiline=%v: %U left in %q", ml, r, out)
			}
		}
	}
}

func testMessage(text string, sent bool) *client.Message {
	m := &client.Message{
		From: "bob", FromDevice: 2, To: "alice", Sent: sent,
		Time:      time.Date(2026, 11, 27, 7, 1, 2, 345, time.UTC),
		Plaintext: []byte(text),
	}
	if sent {
		m.From, m.To = "alice", "bob"
	}
	m.ID[0], m.ID[15] = 0xab, 0x01
	return m
}

func TestFormatMessage(t *testing.T) {
	for _, tc := range []struct {
		m    *client.Message
		mark string
		want string
	}{
		{testMessage("hi there", false), "", "2026-11-27 07:01:02  ab000000  bob (device 2): hi there\n"},
		{testMessage("hi there", true), "", "2026-11-27 07:01:02  ab000000  → bob: hi there\n"},
		{testMessage("psst", false), "*", "2026-11-27 07:01:02  ab000000  * bob (device 2): psst\n"},
		// A message cannot fake a second line from someone else.
		{testMessage("ok\n2026-11-27 07:01:03  carol (device 1): send money", false), "",
			"2026-11-27 07:01:02  ab000000  bob (device 2): ok\n    2026-11-27 07:01:03  carol (device 1): send money\n"},
		{testMessage("\x1b[31mred\r", false), "", "2026-11-27 07:01:02  ab000000  bob (device 2): \\x1b[31mred\\r\n"},
	} {
		if got := formatMessage(tc.m, time.UTC, tc.mark); got != tc.want {
			t.Errorf("formatMessage = %q, want %q", got, tc.want)
		}
	}
}

func TestJSONMessage(t *testing.T) {
	a := &app{stdio: stdio{stdout: new(bytes.Buffer)}}
	out := a.stdout.(*bytes.Buffer)
	a.emit(newJSONMessage(testMessage("<b>&\x1b[0m", false)))
	a.emit(newJSONMessage(testMessage("bin\xff", true)))
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", out.String())
	}
	if !strings.Contains(lines[0], `"text":"<b>&\u001b[0m"`) {
		t.Errorf("line 0 = %s", lines[0])
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": "ab000000000000000000000000000001", "from": "bob", "from_device": float64(2),
		"to": "alice", "sent": false, "time": "2026-11-27T07:01:02.000Z", "text": "<b>&\x1b[0m", "kind": "v1",
	}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", m, want)
	}
	var j jsonMessage
	if err := json.Unmarshal([]byte(lines[1]), &j); err != nil {
		t.Fatal(err)
	}
	if j.Text != "bin\uFFFD" || j.TextBase64 != "Ymlu/w==" || !j.Sent || j.To != "bob" {
		t.Errorf("non-UTF-8 message: %+v", j)
	}
}

func TestFormatEvent(t *testing.T) {
	e := client.Event{Kind: client.EventEnvelopeDropped, Err: errors.New("seal: bad\x1b[2J\nsecond")}
	got := formatEvent(e)
	if strings.Count(got, "\n") != 1 || strings.Contains(got, "\x1b") || strings.Contains(got, "seal: ") {
		t.Errorf("formatEvent = %q", got)
	}
	if j := newJSONEvent(e); strings.Contains(j.Error, "seal: ") || !strings.HasPrefix(j.Error, "bad") {
		t.Errorf("newJSONEvent error = %q", j.Error)
	}
	j := newJSONEvent(client.Event{Kind: client.EventKeyChanged, Handle: "bob"})
	if j.Event != "key-changed" || j.Handle != "bob" {
		t.Errorf("newJSONEvent = %+v", j)
	}
	when := time.Date(2026, 12, 4, 10, 11, 0, 0, time.UTC)
	for _, tc := range []struct {
		e    client.Event
		want []string
	}{
		{client.Event{Kind: client.EventDeviceAdded, Handle: "bob", Device: 3, Time: when}, []string{"bob added a new device, device 3 on 2026-12-04 10:11 UTC; what you send to bob now reaches it too.", "Ask bob", "'sealpost devices'"}},
		{client.Event{Kind: client.EventDeviceRemoved, Handle: "bob", Device: 3, Time: when}, []string{"bob removed device 3 on 2026-12-04 10:11 UTC: nothing you send reaches it any more"}},
		{client.Event{Kind: client.EventOwnAccountChanged, Handle: "alice", Device: 2, Time: when}, []string{"!!! WARNING", "device 2", "sealpost devices revoke 2", "sealpost devices approve 2"}},
		{client.Event{Kind: client.EventOwnAccountChanged, Handle: "alice", Device: 2, Time: when, Revoked: true}, []string{"!!! WARNING: another device revoked device 2"}},
		{client.Event{Kind: client.EventKeyChanged, Handle: "bob", KeyChange: &client.KeyChange{Verified: true}}, []string{"SECURITY WARNING", "sealpost verify bob", "sealpost accept bob"}},
		{client.Event{Kind: client.EventKeyChanged, Handle: "bob"}, []string{"Nothing is sent to bob", "sealpost accept bob"}},
		{client.Event{Kind: client.EventRevoked, Err: client.ErrDeviceRevoked}, []string{"THIS DEVICE HAS BEEN REVOKED", "can no longer send or receive"}},
	} {
		got := formatEvent(tc.e)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("formatEvent(%v) = %q, want %q in it", tc.e.Kind, got, w)
			}
		}
	}
}

func TestSafetyRows(t *testing.T) {
	var groups []string
	for i := range 12 {
		groups = append(groups, fmt.Sprintf("%05d", i))
	}
	want := "    00000 00001 00002 00003\n    00004 00005 00006 00007\n    00008 00009 00010 00011\n"
	if got := safetyRows(groups); got != want {
		t.Errorf("safetyRows = %q, want %q", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	pin := strings.Repeat("AB", 32)
	c := &fileConfig{Server: "https://127.0.0.1:8443", Pin: pin}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Pin != strings.Repeat("ab", 32) {
		t.Errorf("pin not normalised: %q", c.Pin)
	}
	for _, bad := range []fileConfig{
		{Server: "http://127.0.0.1:8443"},
		{Server: "https://"},
		{Server: "https://user:pw@host:1"},
		{Server: "https://host:99999"},
		{Server: "https://host:1?x=1"},
		{Server: "https://host:1", Relay: "ws://host:1/v1/relay"},
		{Server: "https://host:1", Pin: "abcd"},
		{Server: "https://host:1", Pin: pin, CAFile: "/ca.pem"},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestConfigSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	c := &fileConfig{Server: "https://example.org:8443", Relay: "wss://relay.example.org/v1/relay", Pin: strings.Repeat("0f", 32),
		Witnesses: []string{kttest.WitnessKey(t, "w1.example", nil), kttest.WitnessKey(t, "w2.example", nil)}, WitnessQuorum: 1}
	if err := saveConfig(dir, c); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, configFile): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), mode)
		}
	}
	got, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("loaded %+v, want %+v", got, c)
	}
	// A second save is refused and changes nothing.
	before, _ := os.ReadFile(filepath.Join(dir, configFile))
	err = saveConfig(dir, &fileConfig{Server: "https://evil.example:1"})
	if !errors.Is(err, errStoreExists) {
		t.Errorf("second save: %v, want errStoreExists", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, configFile))
	if !bytes.Equal(before, after) {
		t.Error("second save changed config.json")
	}
	// Only the configuration and the .gitignore that keeps the store
	// out of version control; no temporary files.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 || entries[0].Name() != ".gitignore" || entries[1].Name() != configFile {
		t.Errorf("left behind: %v", entries)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".gitignore")); !bytes.HasSuffix(b, []byte("\n*\n")) {
		t.Errorf(".gitignore: %q", b)
	}

	if _, err := loadConfig(t.TempDir()); !errors.Is(err, client.ErrNoStore) || exitCode(err) != exitLocal {
		t.Errorf("missing config: %v", err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, configFile), []byte(`{"server":"https://h:1","secret":"x"}`), 0o600)
	if _, err := loadConfig(bad); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{
		"secret\n":         "secret",
		"secret\r\nmore\n": "secret",
		"no newline":       "no newline",
		" spaces kept \n":  " spaces kept ",
		"\nsecond line\n":  "",
		"":                 "",
		"\r\n":             "",
		"pass\x00word\n":   "pass\x00word",
		"ünïcödé passwörd": "ünïcödé passwörd",
	} {
		got, err := firstLine(strings.NewReader(in))
		if want == "" {
			if !errors.Is(err, errEmptyPassphrase) {
				t.Errorf("firstLine(%q) = %q, %v; want errEmptyPassphrase", in, got, err)
			}
			continue
		}
		if err != nil || string(got) != want {
			t.Errorf("firstLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := firstLine(strings.NewReader(strings.Repeat("x", maxPassphrase+1) + "\n")); err == nil {
		t.Error("overlong passphrase accepted")
	}
}

func TestPassphraseSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pass")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	a := func(env map[string]string, term terminal, passFile string) *app {
		return &app{stdio: stdio{getenv: func(k string) string { return env[k] }, term: term}, dir: "/d", passFile: passFile}
	}
	env := map[string]string{passphraseEnv: "from-env"}

	if p, err := a(env, notTerminal{}, file).storePassphrase(true); err != nil || string(p) != "from-file" {
		t.Errorf("file: %q, %v", p, err)
	}
	if p, err := a(env, notTerminal{}, "").storePassphrase(true); err != nil || string(p) != "from-env" {
		t.Errorf("env: %q, %v", p, err)
	}
	_, err := a(nil, notTerminal{}, "").storePassphrase(false)
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "not a terminal") {
		t.Errorf("no source: %v (exit %d)", err, exitCode(err))
	}
	_, err = a(nil, notTerminal{}, filepath.Join(dir, "missing")).storePassphrase(false)
	if exitCode(err) != exitUsage || !errors.Is(err, fs.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}

	term := &fakeTerminal{answers: []string{"correct horse", "correct horse"}}
	if p, err := a(nil, term, "").storePassphrase(true); err != nil || string(p) != "correct horse" {
		t.Errorf("terminal: %q, %v", p, err)
	}
	if want := []string{"Passphrase for /d: ", "Repeat passphrase for /d: "}; fmt.Sprint(term.prompts) != fmt.Sprint(want) {
		t.Errorf("prompts %q, want %q", term.prompts, want)
	}
	term = &fakeTerminal{answers: []string{"one", "two"}}
	if _, err := a(nil, term, "").storePassphrase(true); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "do not match") {
		t.Errorf("mismatch: %v", err)
	}
	term = &fakeTerminal{answers: []string{""}}
	if _, err := a(nil, term, "").storePassphrase(true); exitCode(err) != exitUsage || len(term.prompts) != 1 {
		t.Errorf("empty: %v, prompts %q", err, term.prompts)
	}
	term = &fakeTerminal{answers: []string{"only once"}}
	if p, err := a(nil, term, "").storePassphrase(false); err != nil || string(p) != "only once" || len(term.prompts) != 1 {
		t.Errorf("no confirm: %q, %v, %q", p, err, term.prompts)
	}
}

func TestProgress(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }

	var tty bytes.Buffer
	p := newProgress(&tty, true, "audit")
	p.now = clock
	p.update(0, 200)
	p.update(50, 200) // too soon: not drawn
	now = now.Add(time.Second)
	p.update(100, 200)
	p.update(200, 200) // completion is always drawn
	p.finish()
	want := "\raudit [..............................]   0% 0/200\x1b[K" +
		"\raudit [###############...............]  50% 100/200\x1b[K" +
		"\raudit [##############################] 100% 200/200\x1b[K" +
		"\r\x1b[K"
	if tty.String() != want {
		t.Errorf("tty progress:\n%q\nwant\n%q", tty.String(), want)
	}

	var plain bytes.Buffer
	p = newProgress(&plain, false, "audit")
	p.now = clock
	p.update(0, 1000)
	now = now.Add(time.Second)
	p.update(10, 1000) // under 5s: nothing
	now = now.Add(5 * time.Second)
	p.update(500, 1000)
	p.update(600, 1000)
	p.update(1000, 1000)
	p.finish()
	want = "audit: 500/1000 (50%)\naudit: 1000/1000 (100%)\n"
	if plain.String() != want {
		t.Errorf("plain progress:\n%q\nwant\n%q", plain.String(), want)
	}
	// A quick run prints nothing, not even at completion.
	var quick bytes.Buffer
	p = newProgress(&quick, false, "audit")
	p.now = clock
	p.update(0, 3)
	p.update(3, 3)
	p.finish()
	if quick.Len() != 0 {
		t.Errorf("quick plain progress printed %q", quick.String())
	}
	if s := p.bar(5, 0); s != "audit 5" {
		t.Errorf("unknown total: %q", s)
	}
}

func TestWriteBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "backup.age")
	write := func(content string) func(*os.File) error {
		return func(f *os.File) error { _, err := f.WriteString(content); return err }
	}
	if err := writeBackup(path, false, write("one")); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if err := writeBackup(path, false, write("two")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("overwrite without force: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Errorf("content %q after refused overwrite", b)
	}
	if err := writeBackup(path, false, func(*os.File) error { return errors.New("export failed") }); err == nil {
		t.Error("failed export reported success")
	}
	if err := writeBackup(path, true, write("three")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "three" {
		t.Errorf("content %q after --force", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	c := cli{}
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{[]string{"help"}, exitOK, "Commands:", ""},
		{[]string{"--help"}, exitOK, "Commands:", ""},
		{[]string{"help", "send"}, exitOK, "Usage: sealpost send [flags] HANDLE [MESSAGE|-]", ""},
		{[]string{"send", "-h"}, exitOK, "--timeout", ""},
		{[]string{"verify", "--help"}, exitOK, "--scan", ""},
		{[]string{"version"}, exitOK, "sealpost ", ""},
		{[]string{}, exitUsage, "", "no command given"},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, exitUsage, "", "unknown command"},
		{[]string{"--dir", dir, "send"}, exitUsage, "", "sealpost: send: missing HANDLE"},
		{[]string{"--dir", dir, "send", "bob", "hello", "world"}, exitUsage, "", "quote the message"},
		{[]string{"--dir", dir, "send", "Bob!", "x"}, exitUsage, "", "handle"},
		{[]string{"--dir", dir, "send", "bob", "--bogus"}, exitUsage, "", "flag provided but not defined"},
		{[]string{"--dir", dir, "listen", "--once", "--count", "3"}, exitUsage, "", "--once"},
		{[]string{"--dir", dir, "listen", "extra"}, exitUsage, "", "unexpected"},
		{[]string{"--dir", dir, "devices", "revoke", "0"}, exitUsage, "", "device ID"},
		{[]string{"--dir", dir, "devices", "revoke", "x"}, exitUsage, "", "device ID"},
		{[]string{"--dir", dir, "devices", "frob"}, exitUsage, "", "unknown devices subcommand"},
		{[]string{"--dir", dir, "verify", "--yes", "--scan", "x", "bob"}, exitUsage, "", "exclude"},
		{[]string{"--dir", dir, "init"}, exitUsage, "", "missing HANDLE"},
		{[]string{"--dir", dir, "init", "A"}, exitUsage, "", "handle"},
		{[]string{"--dir", dir, "init", "--server", "http://x:1", "alice"}, exitUsage, "", "https"},
		{[]string{"--dir", dir, "init", "--pin", "00", "--trust-on-first-use", "alice"}, exitUsage, "", "pin"},
		{[]string{"--dir", dir, "init", "alice"}, exitUsage, "", "--log-key is required"},
		{[]string{"--dir", dir, "init", "--log-key", "example.org/keyserver+00000000+AAAA", "alice"}, exitUsage, "", "--log-key"},
		{[]string{"--dir", dir, "init", "--log-key", "x/keyserver+11c6c644+AUysdt3czelmVSkAkU0erO5G1siaFv4yxqhd2Lk3zIC6", "--trust-on-first-use", "alice"}, exitUsage, "", "exclude"},
		{[]string{"--dir", dir, "init", "--trust-on-first-use", "--proxy", "tor", "alice"}, exitUsage, "", "proxy"},
		// No configuration: local state problem.
		{[]string{"--dir", dir, "send", "bob", "hi"}, exitLocal, "", "run 'sealpost init HANDLE' first"},
		{[]string{"--dir", dir, "contacts"}, exitLocal, "", "no sealpost configuration"},
	} {
		code, out, errOut := c.run(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
			t.Errorf("sealpost %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, out, errOut, tc.code, tc.out, tc.err)
		}
		if code != exitOK && len(tc.args) > 0 && strings.Count(errOut, "\n") != 1 {
			t.Errorf("sealpost %q: error is not one line: %q", tc.args, errOut)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors wrote to the store directory: %v", entries)
	}
}

func TestInitNoPassphrase(t *testing.T) {
	// Standard input is not a terminal and no passphrase source is given:
	// exit 2 before anything is written.
	dir := filepath.Join(t.TempDir(), "alice")
	code, _, errOut := cli{}.run(t, "--dir", dir, "init", "--pin", strings.Repeat("ab", 32), "--trust-on-first-use", "alice")
	if code != exitUsage || !strings.Contains(errOut, "--passphrase-file") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("init without a passphrase created %s", dir)
	}
	// A mismatch on the terminal is refused the same way.
	term := &fakeTerminal{answers: []string{"one", "two"}}
	code, _, errOut = cli{term: term}.run(t, "--dir", dir, "init", "--pin", strings.Repeat("ab", 32), "--trust-on-first-use", "alice")
	if code != exitUsage || !strings.Contains(errOut, "do not match") {
		t.Errorf("mismatch: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("init with mismatched passphrases created %s", dir)
	}
}

func TestInitRefusesExistingStore(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, configFile)
	os.WriteFile(cfg, []byte(`{"server":"https://a:1"}`), 0o600)
	code, _, errOut := cli{env: map[string]string{passphraseEnv: "pw"}}.run(t, "--dir", dir, "init", "--trust-on-first-use", "alice")
	if code != exitLocal || !strings.Contains(errOut, "already holds a sealpost store") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if b, _ := os.ReadFile(cfg); string(b) != `{"server":"https://a:1"}` {
		t.Errorf("config.json changed: %q", b)
	}
}

func TestGlobalFlagsAnywhere(t *testing.T) {
	dir := t.TempDir()
	// --dir after the command is honoured (the error names it).
	_, _, errOut := cli{}.run(t, "contacts", "--dir", dir)
	if !strings.Contains(errOut, dir) {
		t.Errorf("stderr %q does not name %s", errOut, dir)
	}
	// SEALPOST_DIR is the default.
	_, _, errOut = cli{env: map[string]string{"SEALPOST_DIR": dir}}.run(t, "contacts")
	if !strings.Contains(errOut, dir) {
		t.Errorf("stderr %q does not name %s", errOut, dir)
	}
}

// TestDescribe checks the presentation of errors: no package prefixes,
// and a network failure as the server and the cause.
func TestDescribe(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name string
		err  error
		want string
		code string
	}{
		{"prefixes", fmt.Errorf("client: looking up bob: %w", errors.New("ksclient: bad answer")), "looking up bob: bad answer", "failure"},
		{"repeated reason", fmt.Errorf("%w (%w)", client.ErrWrongPassphrase, errors.New("localstore: wrong passphrase")), "wrong passphrase", "wrong_passphrase"},
		{"words kept", errors.New("the relay: said no"), "the relay: said no", "failure"},
		{"url error", fmt.Errorf("client: looking up bob: ksclient: GET /v1/accounts/bob: %w", &url.Error{Op: "Get", URL: "https://127.0.0.1:8443/v1/accounts/bob", Err: refused}),
			"looking up bob: cannot reach https://127.0.0.1:8443: connection refused", "connection_refused"},
		{"pin", &url.Error{Op: "Get", URL: "https://h:1/x", Err: tlsconfig.ErrPinMismatch}, "cannot reach https://h:1: TLS pin mismatch: the server's certificate is not the one pinned with --pin", "tls_pin_mismatch"},
		{"probe refused", &unreachableError{what: "key server", addr: "127.0.0.1:8443", step: "dial", err: refused}, "cannot reach the key server at 127.0.0.1:8443: connection refused", "connection_refused"},
		{"probe dial timeout", &unreachableError{what: "relay", addr: "10.0.0.1:443", step: "dial", err: context.DeadlineExceeded}, "cannot reach the relay at 10.0.0.1:443: dial timeout (no TCP connection within 4s)", "timeout"},
		{"probe tls timeout", &unreachableError{what: "key server", addr: "h:1", step: "tls", err: context.DeadlineExceeded}, "cannot reach the key server at h:1: TLS handshake timeout (connected, but no TLS answer within 4s)", "timeout"},
		{"no account", checkAccount("nobody", fmt.Errorf("client: %w", client.ErrUnknownHandle)), `there is no account "nobody" on the key server (check the spelling)`, "no_such_account"},
	} {
		if got := describe(tc.err); got != tc.want {
			t.Errorf("%s: describe = %q, want %q", tc.name, got, tc.want)
		}
		if got := errorCode(tc.err); got != tc.code {
			t.Errorf("%s: errorCode = %q, want %q", tc.name, got, tc.code)
		}
	}
}

// TestJSONError: with --json a failure is one JSON object on stderr and
// nothing on stdout.
func TestJSONError(t *testing.T) {
	code, stdout, stderr := cli{}.run(t, "--json", "send")
	var e jsonError
	if err := json.Unmarshal([]byte(stderr), &e); err != nil || code != exitUsage || stdout != "" ||
		e.Error != "usage" || e.Exit != exitUsage || e.Command != "send" || e.Message != "missing HANDLE" {
		t.Errorf("--json send: exit %d, stdout %q, stderr %q (%v)", code, stdout, stderr, err)
	}
}

// TestEventWatch: a one-shot command prints every event the client
// reports while it runs, also those before the relay connection (which
// send used to drop while it waited for the connection) and those
// waiting when it stops.
func TestEventWatch(t *testing.T) {
	var out, errb bytes.Buffer
	a := &app{stdio: stdio{stdout: &out, stderr: &errb, loc: time.UTC}}
	events := make(chan client.Event, 8)
	when := time.Date(2026, 12, 4, 15, 2, 0, 0, time.UTC)
	events <- client.Event{Kind: client.EventDeviceAdded, Handle: "bob", Device: 2, Time: when}
	events <- client.Event{Kind: client.EventDisconnected, Err: errors.New("relaylink: no")}
	events <- client.Event{Kind: client.EventConnected}
	w := a.watchEvents(events)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.waitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	events <- client.Event{Kind: client.EventDeviceRemoved, Handle: "bob", Device: 2, Time: when}
	w.stop()
	got := errb.String()
	for _, want := range []string{"bob added a new device, device 2 on 2026-12-04 15:02 UTC", "bob removed device 2 on 2026-12-04 15:02 UTC"} {
		if !strings.Contains(got, want) {
			t.Errorf("printed %q, want %q in it", got, want)
		}
	}
	if strings.Contains(got, "connected") || out.Len() != 0 {
		t.Errorf("printed connection events or stdout: %q %q", got, out.String())
	}

	// No connection: the last reason is in the error.
	events = make(chan client.Event, 1)
	events <- client.Event{Kind: client.EventDisconnected, Err: errors.New("relaylink: token refused")}
	w = a.watchEvents(events)
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := w.waitConnected(ctx)
	w.stop()
	if err == nil || !strings.Contains(err.Error(), "(token refused)") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waitConnected without a connection: %v", err)
	}
}

// TestErrorCodesDocumented: every --json error code is listed, with the
// exit status it comes with, in help and in README.md's table, and an
// error of each kind gets that code and that exit status.
func TestErrorCodesDocumented(t *testing.T) {
	help := map[string]int{}
	exit := -1
	for _, line := range strings.Split(errorCodesHelp, "\n") {
		f := strings.Fields(strings.ReplaceAll(line, ",", " "))
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.Atoi(f[0]); err == nil && strings.HasPrefix(line, "  "+f[0]+"  ") {
			exit, f = n, f[1:]
		} else if !strings.HasPrefix(line, "     ") {
			exit = -1
			continue
		}
		for _, code := range f {
			if exit >= 0 {
				help[code] = exit
			}
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "| exit | meaning | `--json` `error` codes |")
	table, _, _ = strings.Cut(table, "\n\n")
	inREADME := map[string]int{}
	for _, row := range strings.Split(table, "\n") {
		cells := strings.Split(row, "|")
		if len(cells) < 4 {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(cells[1]))
		if err != nil {
			continue
		}
		for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(cells[3], -1) {
			inREADME[m[1]] = n
		}
	}
	if len(help) == 0 || fmt.Sprint(help) != fmt.Sprint(inREADME) {
		t.Errorf("error codes in help %v, in README.md %v", help, inREADME)
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for code, err := range map[string]error{
		"failure":                errors.New("boom"),
		"handle_taken":           client.ErrHandleTaken,
		"closed":                 client.ErrClosed,
		"interrupted":            context.Canceled,
		"usage":                  usagef("x"),
		"wrong_passphrase":       client.ErrWrongPassphrase,
		"locked":                 client.ErrLocked,
		"no_store":               client.ErrNoStore,
		"not_registered":         client.ErrNotRegistered,
		"store_exists":           errStoreExists,
		"corrupt_store":          client.ErrCorrupt,
		"tls_pin_mismatch":       &unreachableError{what: "key server", addr: "h:1", step: "tls", err: tlsconfig.ErrPinMismatch},
		"tls_untrusted":          &url.Error{Op: "Get", URL: "https://h", Err: &tls.CertificateVerificationError{Err: errors.New("x")}},
		"safety_number_mismatch": keys.ErrSafetyNumberMismatch,
		"key_changed":            client.ErrKeyChanged,
		"device_revoked":         client.ErrDeviceRevoked,
		"security_events":        errSecurityEvents,
		"security":               client.ErrSecurity,
		"connection_refused":     &unreachableError{what: "key server", addr: "h:1", step: "dial", err: refused},
		"timeout":                &unreachableError{what: "key server", addr: "h:1", step: "tls", err: context.DeadlineExceeded},
		"unreachable":            &net.DNSError{Name: "h", IsNotFound: true},
		"stale":                  client.ErrStale,
		"no_quorum":              client.ErrNoQuorum,
		"queued":                 client.ErrQueued,
		"no_such_account":        checkAccount("x", client.ErrUnknownHandle),
		"invalid_content":        fmt.Errorf("%w: %w", client.ErrInvalidContent, errors.New("content: too large")),
		"unknown_message":        fmt.Errorf("react: %w", client.ErrUnknownMessage),
		"not_sender":             client.ErrNotSender,
		"blocked":                fmt.Errorf("send: %w: mallory", client.ErrBlocked),
		"group_refused":          fmt.Errorf("%w: not an admin", client.ErrGroupRefused),
		"unknown_group":          client.ErrUnknownGroup,
		"not_connected":          client.ErrNotConnected,
		"attachment_corrupt":     fmt.Errorf("%w: the digest does not match", client.ErrAttachmentCorrupt),
		"attachment_gone":        client.ErrAttachmentGone,
		"file_refused":           fmt.Errorf("%w: quota", client.ErrFileRefused),
		"push_refused":           &client.PushRefusedError{Status: client.PushGatewayUnknown},
		"link_expired":           client.ErrLinkExpired,
		"link_not_found":         client.ErrLinkNotFound,
		"link_declined":          fmt.Errorf("%w: by the user", client.ErrLinkDeclined),
		"link_aborted":           fmt.Errorf("%w: the snapshot did not parse", client.ErrLinkAborted),
		"link_timeout":           client.ErrLinkTimeout,
		"link_relay":             client.ErrLinkRelay,
		"link_not_stored":        fmt.Errorf("%w (device 3): disk full", client.ErrLinkNotStored),
	} {
		want, ok := help[code]
		if !ok {
			t.Errorf("code %s is not documented", code)
		}
		if got := errorCode(err); got != code {
			t.Errorf("errorCode(%v) = %s, want %s", err, got, code)
		}
		if got := exitCode(err); got != want {
			t.Errorf("exitCode(%v) = %d, documented with %s as %d", err, got, code, want)
		}
	}
}

// TestWitnessConfigRefused: a malformed or repeated witness key and a
// quorum beyond the witnesses are refused with their reason.
func TestWitnessConfigRefused(t *testing.T) {
	w := kttest.WitnessKey(t, "w1.example", nil)
	for _, c := range []struct {
		name string
		cfg  fileConfig
		want string
	}{
		{"malformed", fileConfig{Witnesses: []string{w + "x"}}, "not a witness verifier key"},
		{"twice", fileConfig{Witnesses: []string{w, w}}, "given twice"},
		{"quorum over", fileConfig{Witnesses: []string{w}, WitnessQuorum: 2}, "witness quorum 2"},
		{"quorum negative", fileConfig{Witnesses: []string{w}, WitnessQuorum: -1}, "witness quorum -1"},
	} {
		c.cfg.Server = "https://example.org:8443"
		err := c.cfg.validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: validate = %v, want %q", c.name, err, c.want)
		}
	}
	ok := fileConfig{Server: "https://example.org:8443", Witnesses: []string{w}, WitnessQuorum: 1}
	if err := ok.validate(); err != nil {
		t.Errorf("a good witness configuration: %v", err)
	}
}
