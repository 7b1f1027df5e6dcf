package apnstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	team  = "TEAM123456"
	kid   = "KEY1234567"
	topic = "org.example.app"
	dev   = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
)

func jwt(t *testing.T, key *ecdsa.PrivateKey, header, claims string) string {
	b64 := base64.RawURLEncoding
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
	d := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b64.EncodeToString(sig)
}

func goodJWT(t *testing.T, s *Server, iat time.Time) string {
	return jwt(t, s.key, `{"alg":"ES256","kid":"`+kid+`"}`, `{"iss":"`+team+`","iat":`+strconv.FormatInt(iat.Unix(), 10)+`}`)
}

type req struct {
	path, auth, pushType, prio, topic, body string
}

func (s *Server) do(t *testing.T, r req) (int, string) {
	t.Helper()
	hr, _ := http.NewRequest(http.MethodPost, s.URL+r.path, strings.NewReader(r.body))
	hr.Header.Set("authorization", r.auth)
	hr.Header.Set("apns-topic", r.topic)
	hr.Header.Set("apns-push-type", r.pushType)
	hr.Header.Set("apns-priority", r.prio)
	resp, err := s.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Reason string }
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Reason
}

func TestStandInChecks(t *testing.T) {
	s := New(t, Config{TeamID: team, KeyID: kid, Topic: topic})
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	good := req{"/3/device/" + dev, "bearer " + goodJWT(t, s, now), "alert", "10", topic, `{"aps":{"alert":"x"}}`}
	if st, r := s.do(t, good); st != 200 {
		t.Fatalf("good request: %d %s", st, r)
	}
	for _, c := range []struct {
		name   string
		edit   func(*req)
		status int
		reason string
	}{
		{"short token", func(r *req) { r.path = "/3/device/abcd" }, 400, "BadDeviceToken"},
		{"bad path", func(r *req) { r.path = "/2/device/" + dev }, 404, "BadPath"},
		{"no auth", func(r *req) { r.auth = "" }, 403, "MissingProviderToken"},
		{"other key", func(r *req) {
			r.auth = "bearer " + jwt(t, other, `{"alg":"ES256","kid":"`+kid+`"}`, `{"iss":"`+team+`","iat":`+strconv.FormatInt(now.Unix(), 10)+`}`)
		}, 403, "InvalidProviderToken"},
		{"wrong kid", func(r *req) {
			r.auth = "bearer " + jwt(t, s.key, `{"alg":"ES256","kid":"OTHER12345"}`, `{"iss":"`+team+`","iat":`+strconv.FormatInt(now.Unix(), 10)+`}`)
		}, 403, "InvalidProviderToken"},
		{"future iat", func(r *req) { r.auth = "bearer " + goodJWT(t, s, now.Add(10*time.Minute)) }, 403, "InvalidProviderToken"},
		{"old iat", func(r *req) { r.auth = "bearer " + goodJWT(t, s, now.Add(-61*time.Minute)) }, 403, "ExpiredProviderToken"},
		{"renewed too soon", func(r *req) { r.auth = "bearer " + goodJWT(t, s, now.Add(time.Second)) }, 429, "TooManyProviderTokenUpdates"},
		{"no topic", func(r *req) { r.topic = "" }, 400, "MissingTopic"},
		{"wrong topic", func(r *req) { r.topic = "org.other" }, 400, "TopicDisallowed"},
		{"push type", func(r *req) { r.pushType = "voip" }, 400, "InvalidPushType"},
		{"background at 10", func(r *req) { r.pushType, r.body = "background", `{"aps":{"content-available":1}}` }, 400, "BadPriority"},
		{"no aps", func(r *req) { r.body = `{"x":1}` }, 400, "PayloadEmpty"},
		{"too large", func(r *req) { r.body = `{"aps":{"alert":"` + strings.Repeat("x", 4096) + `"}}` }, 413, "PayloadTooLarge"},
	} {
		r := good
		c.edit(&r)
		if st, reason := s.do(t, r); st != c.status || reason != c.reason {
			t.Errorf("%s: %d %s, want %d %s", c.name, st, reason, c.status, c.reason)
		}
	}
	if n := len(s.Rejected()); n != 14 {
		t.Errorf("%d rejections counted, want 14: %q", n, s.Rejected())
	}
	s.SetAnswer(dev, Unregistered)
	if st, reason := s.do(t, good); st != 410 || reason != "Unregistered" {
		t.Errorf("programmed: %d %s", st, reason)
	}
	if n := len(s.Rejected()); n != 14 || len(s.Accepted()) != 1 {
		t.Errorf("a programmed answer counted: %d rejected, %d accepted", n, len(s.Accepted()))
	}
}
