package gwclient

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testKey = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"

// gateway answers status with header Retry-After ra, after checking the
// request is what spec/push.md §5.4 says.
func gateway(t *testing.T, status int, ra string) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/pushgw/wake" || r.Header.Get("Authorization") != "Bearer "+testKey ||
			r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s %q", r.Method, r.URL.Path, r.Header)
		}
		b, _ := io.ReadAll(r.Body)
		var body map[string]string
		if err := json.Unmarshal(b, &body); err != nil || len(body) != 1 || body["token"] != base64.RawURLEncoding.EncodeToString([]byte{1, 2, 0, 'a'}) {
			t.Errorf("body %s", b)
		}
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		if status == http.StatusFound {
			w.Header().Set("Location", "https://elsewhere.example/")
		}
		w.WriteHeader(status)
		if status >= 400 {
			io.WriteString(w, `{"error":"x"}`)
		}
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestWakeAnswers(t *testing.T) {
	for _, c := range []struct {
		status int
		ra     string
		check  func(error) bool
	}{
		{204, "", func(err error) bool { return err == nil }},
		{410, "", func(err error) bool { return errors.Is(err, ErrGone) }},
		{401, "", func(err error) bool { return errors.Is(err, ErrRefused) }},
		{400, "", func(err error) bool { return errors.Is(err, ErrRefused) }},
		{413, "", func(err error) bool { return errors.Is(err, ErrRefused) }},
		{404, "", func(err error) bool { return errors.Is(err, ErrRefused) }},
		{302, "", func(err error) bool { return errors.Is(err, ErrRefused) }},
		{429, "17", func(err error) bool {
			var r *RetryError
			return errors.As(err, &r) && r.After == 17*time.Second && r.Status == 429
		}},
		{503, "5", func(err error) bool {
			var r *RetryError
			return errors.As(err, &r) && r.After == 5*time.Second && r.Status == 503
		}},
		{502, "", func(err error) bool { var r *RetryError; return errors.As(err, &r) && r.After == 0 && r.Status == 502 }},
		{500, "junk", func(err error) bool { var r *RetryError; return errors.As(err, &r) && r.After == 0 }},
		{429, "99999", func(err error) bool { var r *RetryError; return errors.As(err, &r) && r.After == time.Hour }},
	} {
		srv, calls := gateway(t, c.status, c.ra)
		cl, err := New(Config{URL: srv.URL, Key: testKey, Client: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		err = cl.Wake(context.Background(), []byte{1, 2, 0, 'a'})
		if !c.check(err) {
			t.Errorf("%d Retry-After %q: %v", c.status, c.ra, err)
		}
		if calls.Load() != 1 {
			t.Errorf("%d: %d calls (a redirect followed?)", c.status, calls.Load())
		}
	}
}

func TestWakeUnreachable(t *testing.T) {
	srv, _ := gateway(t, 204, "")
	srv.Close()
	cl, err := New(Config{URL: srv.URL, Key: testKey, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	var r *RetryError
	if err := cl.Wake(context.Background(), []byte{1, 2, 0, 'a'}); !errors.As(err, &r) || r.Err == nil || r.Status != 0 {
		t.Errorf("closed gateway: %v", err)
	}
	// A cancelled context is the caller's, not a retry hint.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := cl.Wake(ctx, []byte{1, 2, 0, 'a'}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []Config{
		{URL: "http://gw.example", Key: testKey},
		{URL: "https://gw.example/path", Key: testKey},
		{URL: "https://user@gw.example", Key: testKey},
		{URL: "https://gw.example?x=1", Key: testKey},
		{URL: "https://gw.example", Key: "short"},
		{URL: "https://gw.example", Key: strings.Repeat("k", 257)},
		{URL: "https://gw.example", Key: testKey + " x"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	if _, err := New(Config{URL: "https://gw.example:8443/", Key: testKey}); err != nil {
		t.Errorf("New: %v", err)
	}
	cl, _ := New(Config{URL: "https://gw.example", Key: testKey})
	for _, tok := range [][]byte{nil, make([]byte, 385)} {
		if err := cl.Wake(context.Background(), tok); !errors.Is(err, ErrRefused) {
			t.Errorf("token of %d bytes: %v", len(tok), err)
		}
	}
}
