package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestForbidden(t *testing.T) {
	forbidden := []string{
		"127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.0.9", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0", "0.1.2.3",
		"224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.0.8", "198.18.0.1",
		"::", "::1", "::127.0.0.1", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1", "ff0e::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
		"64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::1", "2002:7f00:1::1", "2002:a9fe:a9fe::",
		"2001:db8::1", "100::1",
	}
	allowed := []string{
		"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "11.0.0.1", "192.169.0.1", "169.255.0.1",
		"2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	}
	for _, s := range forbidden {
		if !Forbidden(netip.MustParseAddr(s)) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range allowed {
		if Forbidden(netip.MustParseAddr(s)) {
			t.Errorf("%s forbidden", s)
		}
	}
	if !Forbidden(netip.Addr{}) {
		t.Error("the zero Addr is allowed")
	}
}

func TestCheckURL(t *testing.T) {
	for _, u := range []string{
		"https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
		"https://fcm.googleapis.com/fcm/send/abc:def",
		"https://ntfy.example.org:8443/upABC?up=1",
		"https://8.8.8.8/x",
		"https://[2606:4700:4700::1111]/x",
	} {
		if err := CheckURL(u, false); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, c := range []struct {
		url  string
		want error
	}{
		{"http://push.example.com/x", ErrInvalidURL},
		{"ftp://push.example.com/x", ErrInvalidURL},
		{"https:///x", ErrInvalidURL},
		{"https:push.example.com", ErrInvalidURL},
		{"https://user:pw@push.example.com/x", ErrInvalidURL},
		{"https://push.example.com/x#frag", ErrInvalidURL},
		{"https://push.example.com:0/x", ErrInvalidURL},
		{"https://push.example.com:99999/x", ErrInvalidURL},
		{"https://push.example.com/" + strings.Repeat("a", MaxURLLength), ErrInvalidURL},
		{"https://push example.com/", ErrInvalidURL},
		{"//push.example.com/x", ErrInvalidURL},
		{"https://127.0.0.1/x", ErrForbiddenAddress},
		{"https://127.0.0.1:8443/x", ErrForbiddenAddress},
		{"https://10.1.2.3/x", ErrForbiddenAddress},
		{"https://169.254.169.254/latest/meta-data", ErrForbiddenAddress},
		{"https://[::1]/x", ErrForbiddenAddress},
		{"https://[::ffff:127.0.0.1]/x", ErrForbiddenAddress},
		{"https://[fe80::1%25eth0]/x", ErrForbiddenAddress},
		{"https://localhost/x", ErrForbiddenAddress},
		{"https://LocalHost./x", ErrForbiddenAddress},
		{"https://push.localhost/x", ErrForbiddenAddress},
		{"https://127.1/x", ErrInvalidURL},
		{"https://2130706433/x", ErrInvalidURL},
		{"https://0x7f.0.0.1/x", ErrInvalidURL},
		{"https://017700000001/x", ErrInvalidURL},
		{"https://10.0.0.1./x", ErrInvalidURL},
	} {
		err := CheckURL(c.url, false)
		if !errors.Is(err, c.want) {
			t.Errorf("%.60s: %v, want %v", c.url, err, c.want)
		}
	}
	// allowPrivate lifts the address rule only.
	if err := CheckURL("https://127.0.0.1:8443/x", true); err != nil {
		t.Errorf("allowPrivate: %v", err)
	}
	if err := CheckURL("http://127.0.0.1:8443/x", true); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("allowPrivate, http: %v", err)
	}
}

// server starts a TLS 1.3 server on 127.0.0.1 and returns it with the pool
// that trusts it and a counter of the requests it served.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *x509.CertPool, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool, &n
}

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

// The guard refuses loopback, private, link-local and IPv4-mapped
// addresses at connect time, also when a name resolves to one, and the
// server sees no request.
func TestClientRefusesPrivateAddresses(t *testing.T) {
	srv, pool, served := server(t, ok)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	c := NewClient(Config{RootCAs: pool, Timeout: 5 * time.Second})
	for _, u := range []string{
		srv.URL + "/",                    // 127.0.0.1
		"https://localhost" + port + "/", // a name resolving to loopback
		"https://[::1]" + port + "/",     // IPv6 loopback
		"https://[::ffff:127.0.0.1]" + port + "/",
		"https://10.0.0.1/",
		"https://192.168.0.1/",
		"https://169.254.169.254/",
		"https://100.64.0.1/",
		"https://0.0.0.0" + port + "/",
	} {
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: reached", u)
			continue
		}
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %v, want ErrForbiddenAddress", u, err)
		}
	}
	if n := served.Load(); n != 0 {
		t.Fatalf("the server served %d requests", n)
	}
}

func TestClientAllowPrivate(t *testing.T) {
	srv, pool, served := server(t, ok)
	c := NewClient(Config{AllowPrivate: true, RootCAs: pool})
	resp, err := c.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || served.Load() != 1 {
		t.Fatalf("status %d, %d served", resp.StatusCode, served.Load())
	}
	// Without RootCAs the test certificate is not trusted.
	if resp, err := NewClient(Config{AllowPrivate: true}).Get(srv.URL + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("an untrusted certificate was accepted")
	}
}

// A redirect is returned to the caller, not followed.
func TestClientFollowsNoRedirect(t *testing.T) {
	var followed atomic.Bool
	srv, pool, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Store(true)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	c := NewClient(Config{AllowPrivate: true, RootCAs: pool})
	resp, err := c.Post(srv.URL+"/push", "application/octet-stream", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || followed.Load() {
		t.Fatalf("status %d, followed %v", resp.StatusCode, followed.Load())
	}
}

// Plain http is refused even where private addresses are allowed.
func TestClientHTTPSOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(ok))
	defer srv.Close()
	resp, err := NewClient(Config{AllowPrivate: true}).Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("http was fetched")
	}
	if !errors.Is(err, ErrInvalidURL) {
		t.Fatalf("%v, want ErrInvalidURL", err)
	}
}

// A server that never answers is given up on at Config.Timeout, and at
// the context's end.
func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, pool, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	c := NewClient(Config{AllowPrivate: true, RootCAs: pool, Timeout: 200 * time.Millisecond})
	start := time.Now()
	resp, err := c.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("answered")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
	var te interface{ Timeout() bool }
	if !errors.As(err, &te) || !te.Timeout() {
		t.Fatalf("%v is not a timeout", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err = NewClient(Config{AllowPrivate: true, RootCAs: pool}).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("answered")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v, want context.DeadlineExceeded", err)
	}
}
