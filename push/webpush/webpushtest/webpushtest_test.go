package webpushtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/push/webpush"
)

// jwt signs claims with key as RFC 8292 §2 says, with header hdr.
func jwt(t *testing.T, key *ecdsa.PrivateKey, hdr string, claims map[string]any) string {
	t.Helper()
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString(c)
	d := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + enc.EncodeToString(sig[:])
}

// request is a push request a test can spoil before sending.
type request struct {
	method string
	url    string
	header http.Header
	body   []byte
}

func validRequest(t *testing.T, srv *Server, sub webpush.Subscription, key *ecdsa.PrivateKey) *request {
	t.Helper()
	body, err := webpush.Encrypt(rand.Reader, sub, []byte(webpush.WakeMarker))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.PublicKey.Bytes()
	tok := jwt(t, key, `{"typ":"JWT","alg":"ES256"}`, map[string]any{"aud": srv.URL(), "exp": time.Now().Add(time.Hour).Unix(), "sub": "mailto:a@example.org"})
	h := http.Header{}
	h.Set("Authorization", "vapid t="+tok+", k="+base64.RawURLEncoding.EncodeToString(pub))
	h.Set("TTL", "60")
	h.Set("Content-Encoding", "aes128gcm")
	h.Set("Content-Type", "application/octet-stream")
	return &request{method: http.MethodPost, url: sub.Endpoint, header: h, body: body}
}

func (r *request) send(t *testing.T, srv *Server) int {
	t.Helper()
	req, err := http.NewRequest(r.method, r.url, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.header
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The service accepts a well-formed request and refuses, with the status
// RFC 8030 / RFC 8292 give, every request that breaks one of its checks,
// recording each refusal and no message.
func TestServerChecks(t *testing.T) {
	srv := New(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sub := srv.NewSubscription()
	if code := validRequest(t, srv, sub, key).send(t, srv); code != http.StatusCreated {
		t.Fatalf("valid request: %d (%v)", code, srv.Rejections())
	}
	if m := srv.Messages(sub); len(m) != 1 || string(m[0].Plaintext) != webpush.WakeMarker || m[0].TTL != 60 {
		t.Fatalf("messages %+v", m)
	}
	pub, _ := key.PublicKey.Bytes()
	k := base64.RawURLEncoding.EncodeToString(pub)
	token := func(hdr string, claims map[string]any) string {
		return "vapid t=" + jwt(t, key, hdr, claims) + ", k=" + k
	}
	es256 := `{"typ":"JWT","alg":"ES256"}`
	exp := time.Now().Add(time.Hour).Unix()
	cases := []struct {
		name  string
		spoil func(r *request)
		want  int
	}{
		{"GET", func(r *request) { r.method = http.MethodGet }, 405},
		{"unknown path", func(r *request) { r.url = srv.URL() + PathPrefix + "nobody" }, 404},
		{"no Authorization", func(r *request) { r.header.Del("Authorization") }, 401},
		{"Bearer", func(r *request) { r.header.Set("Authorization", "Bearer x") }, 401},
		{"no k", func(r *request) { r.header.Set("Authorization", strings.Split(r.header.Get("Authorization"), ",")[0]) }, 401},
		{"other k", func(r *request) {
			p, _ := other.PublicKey.Bytes()
			r.header.Set("Authorization", strings.Split(r.header.Get("Authorization"), ", k=")[0]+", k="+base64.RawURLEncoding.EncodeToString(p))
		}, 401},
		{"HS256", func(r *request) {
			r.header.Set("Authorization", token(`{"typ":"JWT","alg":"HS256"}`, map[string]any{"aud": srv.URL(), "exp": exp, "sub": "mailto:a@b"}))
		}, 401},
		{"wrong aud", func(r *request) {
			r.header.Set("Authorization", token(es256, map[string]any{"aud": "https://push.example.net", "exp": exp, "sub": "mailto:a@b"}))
		}, 401},
		{"aud with path", func(r *request) {
			r.header.Set("Authorization", token(es256, map[string]any{"aud": srv.URL() + "/", "exp": exp, "sub": "mailto:a@b"}))
		}, 401},
		{"expired", func(r *request) {
			r.header.Set("Authorization", token(es256, map[string]any{"aud": srv.URL(), "exp": time.Now().Add(-time.Minute).Unix(), "sub": "mailto:a@b"}))
		}, 401},
		{"exp beyond 24h", func(r *request) {
			r.header.Set("Authorization", token(es256, map[string]any{"aud": srv.URL(), "exp": time.Now().Add(25 * time.Hour).Unix(), "sub": "mailto:a@b"}))
		}, 401},
		{"no exp", func(r *request) {
			r.header.Set("Authorization", token(es256, map[string]any{"aud": srv.URL(), "sub": "mailto:a@b"}))
		}, 401},
		{"no sub", func(r *request) {
			r.header.Set("Authorization", token(es256, map[string]any{"aud": srv.URL(), "exp": exp}))
		}, 401},
		{"no TTL", func(r *request) { r.header.Del("TTL") }, 400},
		{"TTL not integer", func(r *request) { r.header.Set("TTL", "1.5") }, 400},
		{"TTL negative", func(r *request) { r.header.Set("TTL", "-1") }, 400},
		{"urgency", func(r *request) { r.header.Set("Urgency", "urgent") }, 400},
		{"topic", func(r *request) { r.header.Set("Topic", "wake up") }, 400},
		{"aesgcm", func(r *request) { r.header.Set("Content-Encoding", "aesgcm") }, 415},
		{"too large", func(r *request) { r.body = make([]byte, webpush.MaxBody+1) }, 413},
		{"does not decrypt", func(r *request) { r.body[len(r.body)-1] ^= 1 }, 400},
	}
	for i, c := range cases {
		r := validRequest(t, srv, sub, key)
		c.spoil(r)
		if code := r.send(t, srv); code != c.want {
			t.Errorf("%s: %d, want %d", c.name, code, c.want)
		}
		if n := srv.Rejected(); n != i+1 {
			t.Fatalf("%s: %d rejections recorded, want %d", c.name, n, i+1)
		}
	}
	if len(srv.Messages(sub)) != 1 {
		t.Fatal("a refused request was recorded")
	}

	// A subscription restricted to another key: 403.
	srv.ExpectVAPID(func() []byte { p, _ := other.PublicKey.Bytes(); return p }())
	if code := validRequest(t, srv, sub, key).send(t, srv); code != http.StatusForbidden {
		t.Fatalf("restricted: %d", code)
	}
	srv.ExpectVAPID(pub)
	if code := validRequest(t, srv, sub, key).send(t, srv); code != http.StatusCreated {
		t.Fatalf("restricted to this key: %d", code)
	}
}

// Each Server has its own certificate: another server's client does not
// trust it.
func TestServerOwnCertificate(t *testing.T) {
	a, b := New(t), New(t)
	resp, err := a.Client().Post(b.NewSubscription().Endpoint, "application/octet-stream", nil)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a's client trusts b")
	}
}
