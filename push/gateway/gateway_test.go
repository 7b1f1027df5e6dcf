package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/apnstest"
	"github.com/sealpost/sealpost/internal/fcmtest"
	"github.com/sealpost/sealpost/push/gateway/gwclient"
)

const (
	testTeam    = "TEAM123456"
	testKeyID   = "KEY1234567"
	testTopic   = "org.example.sealpost"
	testProject = "sealpost-test"
	testEmail   = "pushgw@sealpost-test.iam.gserviceaccount.com"
	// Device tokens: APNs ones are 32 bytes in hex.
	apnsDev   = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	apnsDead  = "dead00000000000000000000000000000000000000000000000000000000beef"
	fcmDev    = "fcm-device-1:APA91bHPRgkF3JUikC4ENAHEeMrd41Zxv3hVZjC9KtT8OvPVGJ-hQMRKRrZuJAEcl7B338qju59zJMjw2DeoD"
	fcmDead   = "fcm-dead:APA91bH"
	testRetry = 17
)

// env is a gateway over TLS 1.3 between a relay's gwclient and the two
// provider stand-ins.
type env struct {
	apns, sandbox *apnstest.Server
	fcm           *fcmtest.Server
	a             *APNs
	f             *FCM
	gw            *Server
	url           string
	pool          *http.Client
	key           string
	client        *gwclient.Client
	logs          *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// relayKey returns a fresh relay key: 32 random bytes in base64url.
func relayKey(t *testing.T) string {
	var b [32]byte
	rand.Read(b[:])
	k := base64.RawURLEncoding.EncodeToString(b[:])
	if err := CheckRelayKey(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newEnv(t *testing.T, mod func(*APNsConfig, *Config)) *env {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{logs: &syncBuffer{}}
	e.apns = apnstest.New(t, apnstest.Config{TeamID: testTeam, KeyID: testKeyID, Topic: testTopic, Key: key})
	e.sandbox = apnstest.New(t, apnstest.Config{TeamID: testTeam, KeyID: testKeyID, Topic: testTopic, Key: key})
	e.fcm = fcmtest.New(t, fcmtest.Config{ProjectID: testProject, ClientEmail: testEmail, RetryAfter: testRetry})
	t.Cleanup(func() {
		for _, r := range [][]string{e.apns.Rejected(), e.sandbox.Rejected(), e.fcm.Rejected()} {
			if len(r) != 0 {
				t.Errorf("a stand-in rejected requests: %q", r)
			}
		}
	})
	// One client trusting all three stand-ins.
	pool := e.apns.CertPool()
	pool.AppendCertsFromPEM(e.sandbox.CertPEM())
	pool.AppendCertsFromPEM(e.fcm.CertPEM())
	pc := ProviderClient(pool)
	acfg := APNsConfig{
		Key: e.apns.KeyP8(), KeyID: testKeyID, TeamID: testTeam, Topic: testTopic,
		URL: e.apns.URL, SandboxURL: e.sandbox.URL, Client: pc,
	}
	e.key = relayKey(t)
	line, err := RelayKeyLine("relay-one", e.key)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseRelayKeys(strings.NewReader("# relays\n\n" + line + "\nrelay-two " + strings.Repeat("ab", 32) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{RelayKeys: keys, ProviderTimeout: 5 * time.Second,
		Log: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&acfg, &cfg)
	}
	if e.a, err = NewAPNs(acfg); err != nil {
		t.Fatal(err)
	}
	if e.f, err = NewFCM(FCMConfig{Credentials: e.fcm.Credentials(), URL: e.fcm.URL, Client: pc}); err != nil {
		t.Fatal(err)
	}
	if cfg.APNs == nil && cfg.FCM == nil {
		cfg.APNs, cfg.FCM = e.a, e.f
	}
	if e.gw, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(e.gw)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.url, e.pool = srv.URL, srv.Client()
	if e.client, err = gwclient.New(gwclient.Config{URL: e.url, Key: e.key, Client: e.pool}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logs := e.logs.String()
		for _, secret := range []string{e.key, apnsDev, apnsDead, fcmDev, fcmDead, "ya29.", "eyJ"} {
			if strings.Contains(logs, secret) {
				t.Errorf("logs hold a secret or token %.12q...:\n%s", secret, logs)
			}
		}
	})
	return e
}

func gwToken(t *testing.T, p Platform, dev string, env Environment) []byte {
	t.Helper()
	b, err := Token{Platform: p, DeviceToken: dev, Environment: env}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWakeAPNsAlert(t *testing.T) {
	e := newEnv(t, nil)
	before := time.Now()
	if err := e.client.Wake(context.Background(), gwToken(t, PlatformAPNs, apnsDev, EnvProduction)); err != nil {
		t.Fatal(err)
	}
	got := e.apns.Accepted()
	if len(got) != 1 || len(e.sandbox.Accepted()) != 0 {
		t.Fatalf("production %d pushes, sandbox %d; want 1, 0", len(got), len(e.sandbox.Accepted()))
	}
	p := got[0]
	if p.DeviceToken != apnsDev || p.PushType != "alert" || p.Priority != "10" || p.CollapseID != "sealpost-wake" {
		t.Errorf("push %+v", p)
	}
	if want := `{"aps":{"alert":{"loc-key":"SEALPOST_WAKE"},"mutable-content":1}}`; string(p.Payload) != want {
		t.Errorf("payload %s, want %s", p.Payload, want)
	}
	exp := time.Unix(p.Expiration, 0)
	if exp.Before(before.Add(DefaultExpiry-time.Second)) || exp.After(time.Now().Add(DefaultExpiry)) {
		t.Errorf("apns-expiration %v, want about now + %v", exp, DefaultExpiry)
	}
	// A second wake-up reuses the provider token.
	if err := e.client.Wake(context.Background(), gwToken(t, PlatformAPNs, apnsDev, EnvProduction)); err != nil {
		t.Fatal(err)
	}
	if n := e.apns.ProviderTokens(); n != 1 {
		t.Errorf("%d provider tokens for two pushes, want 1", n)
	}
}

func TestWakeAPNsSandboxBackground(t *testing.T) {
	e := newEnv(t, func(a *APNsConfig, _ *Config) { a.PushType = PushTypeBackground })
	if err := e.client.Wake(context.Background(), gwToken(t, PlatformAPNs, apnsDev, EnvSandbox)); err != nil {
		t.Fatal(err)
	}
	got := e.sandbox.Accepted()
	if len(got) != 1 || len(e.apns.Accepted()) != 0 {
		t.Fatalf("sandbox %d pushes, production %d; want 1, 0", len(got), len(e.apns.Accepted()))
	}
	if p := got[0]; p.PushType != "background" || p.Priority != "5" || string(p.Payload) != `{"aps":{"content-available":1}}` {
		t.Errorf("push %+v payload %s", p, p.Payload)
	}
}

func TestWakeFCM(t *testing.T) {
	e := newEnv(t, nil)
	for range 2 {
		if err := e.client.Wake(context.Background(), gwToken(t, PlatformFCM, fcmDev, EnvProduction)); err != nil {
			t.Fatal(err)
		}
	}
	got := e.fcm.Accepted()
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	m := got[0]
	if m.Token != fcmDev || len(m.Data) != 1 || m.Data["sealpost"] != "wake" || m.Priority != "HIGH" ||
		m.TTL != "86400s" || m.CollapseKey != "sealpost-wake" {
		t.Errorf("message %+v", m)
	}
	if n := e.fcm.AccessTokensIssued(); n != 1 {
		t.Errorf("%d access tokens for two sends, want 1 (cached)", n)
	}
}

func TestWakeGone(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		name string
		set  func()
		tok  []byte
	}{
		{"APNs Unregistered", func() { e.apns.SetAnswer(apnsDead, apnstest.Unregistered) }, gwToken(t, PlatformAPNs, apnsDead, EnvProduction)},
		{"APNs BadDeviceToken", func() { e.apns.SetAnswer(apnsDead, apnstest.BadDeviceToken) }, gwToken(t, PlatformAPNs, apnsDead, EnvProduction)},
		{"FCM UNREGISTERED", func() { e.fcm.SetAnswer(fcmDead, fcmtest.Unregistered) }, gwToken(t, PlatformFCM, fcmDead, EnvProduction)},
		{"FCM INVALID_ARGUMENT token", func() { e.fcm.SetAnswer(fcmDead, fcmtest.InvalidToken) }, gwToken(t, PlatformFCM, fcmDead, EnvProduction)},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.set()
			if err := e.client.Wake(context.Background(), c.tok); !errors.Is(err, gwclient.ErrGone) {
				t.Fatalf("Wake: %v, want ErrGone", err)
			}
			status, body, _ := post(t, e, e.key, wakeBody(c.tok))
			if status != http.StatusGone || body != `{"error":"gone"}` {
				t.Errorf("answer %d %s, want 410 {\"error\":\"gone\"}", status, body)
			}
		})
	}
}

func TestWakeRetry(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		name   string
		set    func()
		tok    []byte
		status int
		after  time.Duration
	}{
		{"FCM QUOTA_EXCEEDED passes Retry-After", func() { e.fcm.SetAnswer(fcmDead, fcmtest.QuotaExceeded) },
			gwToken(t, PlatformFCM, fcmDead, EnvProduction), 429, testRetry * time.Second},
		{"FCM UNAVAILABLE passes Retry-After", func() { e.fcm.SetAnswer(fcmDead, fcmtest.Unavailable) },
			gwToken(t, PlatformFCM, fcmDead, EnvProduction), 503, testRetry * time.Second},
		{"FCM INTERNAL", func() { e.fcm.SetAnswer(fcmDead, fcmtest.Internal) },
			gwToken(t, PlatformFCM, fcmDead, EnvProduction), 503, defaultOutageRetry},
		{"APNs TooManyRequests", func() { e.apns.SetAnswer(apnsDead, apnstest.TooManyRequests) },
			gwToken(t, PlatformAPNs, apnsDead, EnvProduction), 429, defaultThrottleRetry},
		{"APNs 500", func() { e.apns.SetAnswer(apnsDead, apnstest.InternalError) },
			gwToken(t, PlatformAPNs, apnsDead, EnvProduction), 503, defaultOutageRetry},
		{"APNs 503", func() { e.apns.SetAnswer(apnsDead, apnstest.Unavailable) },
			gwToken(t, PlatformAPNs, apnsDead, EnvProduction), 503, defaultOutageRetry},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.set()
			err := e.client.Wake(context.Background(), c.tok)
			var re *gwclient.RetryError
			if !errors.As(err, &re) || re.Status != c.status || re.After != c.after {
				t.Fatalf("Wake: %#v, want RetryError{Status %d, After %v}", err, c.status, c.after)
			}
		})
	}
}

func TestWakeHangingProvider(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, func(_ *APNsConfig, c *Config) { c.ProviderTimeout = timeout })
	e.apns.SetAnswer(apnsDead, apnstest.Hang)
	e.fcm.SetAnswer(fcmDead, fcmtest.Hang)
	for _, tok := range [][]byte{gwToken(t, PlatformAPNs, apnsDead, EnvProduction), gwToken(t, PlatformFCM, fcmDead, EnvProduction)} {
		start := time.Now()
		err := e.client.Wake(context.Background(), tok)
		var re *gwclient.RetryError
		if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.After != defaultOutageRetry {
			t.Fatalf("Wake: %#v, want RetryError 503", err)
		}
		if el := time.Since(start); el < timeout || el > timeout+3*time.Second {
			t.Errorf("answered after %v, want about %v", el, timeout)
		}
	}
	if !strings.Contains(e.logs.String(), "timeout=true") {
		t.Errorf("logs do not say timeout:\n%s", e.logs.String())
	}
}

// fakeClock sets the APNs sender's clock to the real time plus an
// offset. The stand-in checks iat against the real clock (never in the
// future, at most an hour old), so offsets stay within the past hour.
func fakeClock(a *APNs) func(offset time.Duration) {
	var mu sync.Mutex
	var off time.Duration
	a.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(off) }
	return func(d time.Duration) { mu.Lock(); off = d; mu.Unlock() }
}

// TestAPNsProviderTokenSchedule: a provider token is reused, and renewed
// once it is 50 minutes old.
func TestAPNsProviderTokenSchedule(t *testing.T) {
	e := newEnv(t, nil)
	at := fakeClock(e.a)
	tok := gwToken(t, PlatformAPNs, apnsDev, EnvProduction)
	for _, off := range []time.Duration{-59 * time.Minute, -10 * time.Minute, -8 * time.Minute} {
		at(off)
		if err := e.client.Wake(context.Background(), tok); err != nil {
			t.Fatalf("at now%v: %v", off, err)
		}
	}
	got := e.apns.Accepted()
	if len(got) != 3 || e.apns.ProviderTokens() != 2 {
		t.Fatalf("%d pushes with %d provider tokens, want 3 and 2", len(got), e.apns.ProviderTokens())
	}
	if got[0].TokenIAT != got[1].TokenIAT || got[2].TokenIAT.Sub(got[1].TokenIAT) < 50*time.Minute {
		t.Errorf("iats %v %v %v: want the first reused at 49 minutes, a new one at 51", got[0].TokenIAT, got[1].TokenIAT, got[2].TokenIAT)
	}
}

// TestAPNsProviderTokenExpired: when APNs calls the provider token
// expired, the sender renews it and sends again, unless the token is
// younger than 20 minutes (Apple refuses renewals that frequent:
// TooManyProviderTokenUpdates); then the gateway answers 502.
func TestAPNsProviderTokenExpired(t *testing.T) {
	e := newEnv(t, nil)
	at := fakeClock(e.a)
	tok := gwToken(t, PlatformAPNs, apnsDev, EnvProduction)
	wake := func() error { return e.client.Wake(context.Background(), tok) }
	now := time.Now()

	at(-59 * time.Minute)
	if err := wake(); err != nil {
		t.Fatal(err)
	}
	// 29 minutes old and called expired: renewed, delivered.
	at(-30 * time.Minute)
	e.apns.ExpireTokensIssuedBefore(now.Add(-50 * time.Minute))
	if err := wake(); err != nil {
		t.Fatalf("expired token not renewed: %v", err)
	}
	// 5 minutes old and called expired: not renewed, 502.
	at(-25 * time.Minute)
	e.apns.ExpireTokensIssuedBefore(now.Add(-29 * time.Minute))
	var re *gwclient.RetryError
	if err := wake(); !errors.As(err, &re) || re.Status != http.StatusBadGateway {
		t.Fatalf("young token called expired: %v, want RetryError 502", err)
	}
	// 25 minutes old: renewed.
	at(-5 * time.Minute)
	if err := wake(); err != nil {
		t.Fatalf("expired token not renewed: %v", err)
	}
	got := e.apns.Accepted()
	if len(got) != 3 || e.apns.ProviderTokens() != 3 {
		t.Fatalf("%d pushes with %d provider tokens, want 3 and 3", len(got), e.apns.ProviderTokens())
	}
	if !got[1].TokenIAT.After(got[0].TokenIAT) || !got[2].TokenIAT.After(got[1].TokenIAT) {
		t.Errorf("iats %v %v %v not increasing", got[0].TokenIAT, got[1].TokenIAT, got[2].TokenIAT)
	}
}

func TestFCMAccessTokenExpired(t *testing.T) {
	e := newEnv(t, nil)
	tok := gwToken(t, PlatformFCM, fcmDev, EnvProduction)
	if err := e.client.Wake(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	e.fcm.ExpireAccessTokens()
	if err := e.client.Wake(context.Background(), tok); err != nil {
		t.Fatalf("after the access token expired: %v", err)
	}
	if n, m := e.fcm.AccessTokensIssued(), len(e.fcm.Accepted()); n != 2 || m != 2 {
		t.Errorf("%d access tokens, %d messages; want 2, 2", n, m)
	}
}

func TestWakeBadRelayKey(t *testing.T) {
	e := newEnv(t, nil)
	tok := gwToken(t, PlatformFCM, fcmDev, EnvProduction)
	for _, key := range []string{relayKey(t), e.key[:len(e.key)-1] + "A", strings.Repeat("x", MaxRelayKeyLen)} {
		if key == e.key {
			continue
		}
		c, err := gwclient.New(gwclient.Config{URL: e.url, Key: key, Client: e.pool})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Wake(context.Background(), tok); !errors.Is(err, gwclient.ErrRefused) {
			t.Errorf("Wake with a wrong key: %v, want ErrRefused", err)
		}
	}
	body := wakeBody(tok)
	for _, auth := range []string{"", "Bearer", "Basic " + e.key, "Bearer  " + e.key, "Bearer short"} {
		status, got, h := postAuth(t, e, auth, body)
		if status != http.StatusUnauthorized || got != `{"error":"unauthorized"}` || h.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d %s", auth, status, got)
		}
	}
	if n, m := e.fcm.AccessTokensIssued(), len(e.fcm.Accepted()); n != 0 || m != 0 {
		t.Errorf("unauthenticated calls reached FCM: %d access tokens, %d messages", n, m)
	}
}

func TestWakeMalformed(t *testing.T) {
	e := newEnv(t, nil)
	good := base64.RawURLEncoding.EncodeToString(gwToken(t, PlatformAPNs, apnsDev, EnvProduction))
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"not JSON", "token=" + good, 400, CodeMalformed},
		{"empty", "", 400, CodeMalformed},
		{"array", `["` + good + `"]`, 400, CodeMalformed},
		{"no token", `{}`, 400, CodeMalformed},
		{"null token", `{"token":null}`, 400, CodeMalformed},
		{"unknown field", `{"token":"` + good + `","sender":"alice"}`, 400, CodeMalformed},
		{"trailing data", `{"token":"` + good + `"}{}`, 400, CodeMalformed},
		{"padded base64", `{"token":"` + base64.URLEncoding.EncodeToString(gwToken(t, PlatformFCM, "ab", EnvProduction)) + `"}`, 400, CodeMalformed},
		{"standard base64", `{"token":"` + strings.NewReplacer("-", "+", "_", "/").Replace(good) + `x"}`, 400, CodeMalformed},
		{"bad version", `{"token":"` + base64.RawURLEncoding.EncodeToString([]byte{2, 1, 0, 0xab}) + `"}`, 400, CodeMalformed},
		{"too large", `{"token":"` + strings.Repeat("A", MaxRequestBody) + `"}`, 413, CodeTooLarge},
	} {
		status, got, _ := post(t, e, e.key, c.body)
		if status != c.status || got != `{"error":"`+c.code+`"}` {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, got, c.status, c.code)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+WakePath, nil)
	req.Header.Set("Authorization", "Bearer "+e.key)
	if resp, err := e.pool.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if n := len(e.apns.Accepted()) + len(e.fcm.Accepted()); n != 0 {
		t.Errorf("%d pushes sent for malformed requests", n)
	}
	// gwclient refuses an impossible token itself.
	if err := e.client.Wake(context.Background(), nil); !errors.Is(err, gwclient.ErrRefused) {
		t.Errorf("Wake(nil): %v", err)
	}
}

func TestWakeUnsupportedPlatform(t *testing.T) {
	e := newEnv(t, func(_ *APNsConfig, c *Config) { c.APNs = nil })
	// newEnv fills in both providers only when neither is set.
	cfg := Config{RelayKeys: e.gw.keys, FCM: e.f}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, WakePath, strings.NewReader(wakeBody(gwToken(t, PlatformAPNs, apnsDev, EnvProduction))))
	req.Header.Set("Authorization", "Bearer "+e.key)
	gw.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || strings.TrimSpace(rec.Body.String()) != `{"error":"unsupported_platform"}` {
		t.Errorf("APNs token without APNs: %d %s", rec.Code, rec.Body)
	}
}

func TestWakeRelayRateLimit(t *testing.T) {
	e := newEnv(t, func(_ *APNsConfig, c *Config) { c.RelayRate, c.RelayBurst = 0.1, 2 })
	tok := gwToken(t, PlatformFCM, fcmDev, EnvProduction)
	for i := range 2 {
		if err := e.client.Wake(context.Background(), tok); err != nil {
			t.Fatalf("wake %d: %v", i, err)
		}
	}
	status, body, h := post(t, e, e.key, wakeBody(tok))
	if status != http.StatusTooManyRequests || body != `{"error":"rate_limited"}` {
		t.Fatalf("third wake: %d %s", status, body)
	}
	if ra := h.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	var re *gwclient.RetryError
	if err := e.client.Wake(context.Background(), tok); !errors.As(err, &re) || re.After < time.Second || re.After > 10*time.Second {
		t.Errorf("Wake over the rate: %v", err)
	}
	if n := len(e.fcm.Accepted()); n != 2 {
		t.Errorf("%d messages sent, want 2", n)
	}
}

func wakeBody(tok []byte) string {
	b, _ := json.Marshal(map[string]string{"token": base64.RawURLEncoding.EncodeToString(tok)})
	return string(b)
}

func post(t *testing.T, e *env, key, body string) (int, string, http.Header) {
	return postAuth(t, e, "Bearer "+key, body)
}

func postAuth(t *testing.T, e *env, auth, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+WakePath, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.pool.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
}

// TestAPNsProviderTokenRenewedOnce: concurrent wake-ups refused for the
// same expired token renew it once, and all go through.
func TestAPNsProviderTokenRenewedOnce(t *testing.T) {
	e := newEnv(t, nil)
	at := fakeClock(e.a)
	tok := gwToken(t, PlatformAPNs, apnsDev, EnvProduction)
	at(-40 * time.Minute)
	if err := e.client.Wake(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	at(0)
	e.apns.ExpireTokensIssuedBefore(time.Now().Add(-30 * time.Minute))
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() { errs <- e.client.Wake(context.Background(), tok) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got, tokens := len(e.apns.Accepted()), e.apns.ProviderTokens(); got != n+1 || tokens != 2 {
		t.Errorf("%d pushes with %d provider tokens, want %d and 2", got, tokens, n+1)
	}
}
