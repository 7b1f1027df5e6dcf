// Package apnstest is a stand-in for Apple's push service (APNs) in
// tests: a local HTTP/2 server over TLS 1.3 that checks each request the
// way "Sending notification requests to APNs" describes it (method, path,
// provider token, headers, payload) and answers with Apple's documented
// status codes and {"reason": ...} bodies. A test programs answers per
// device token, reads the pushes it accepted, and asserts that it
// rejected none.
package apnstest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Apple's limits and rules.
const (
	maxPayload      = 4096
	tokenMaxAge     = time.Hour
	tokenMinRenewal = 20 * time.Minute
)

// Answer is a programmed answer for a device token.
type Answer int

const (
	Deliver         Answer = iota // 200 (the default)
	Unregistered                  // 410 Unregistered with a timestamp
	BadDeviceToken                // 400 BadDeviceToken
	TooManyRequests               // 429 TooManyRequests
	InternalError                 // 500 InternalServerError
	Unavailable                   // 503 ServiceUnavailable
	Hang                          // no answer until the client gives up
)

// Config is the vendor account the stand-in checks requests against.
type Config struct {
	TeamID, KeyID, Topic string
	// Key is the account's token signing key; nil makes a fresh one.
	// Two stand-ins with one key stand for production and sandbox.
	Key *ecdsa.PrivateKey
}

// Push is an accepted request.
type Push struct {
	DeviceToken string
	PushType    string
	Priority    string
	Expiration  int64
	CollapseID  string
	Payload     []byte
	TokenIAT    time.Time // the provider token's iat
}

// Server is a running stand-in.
type Server struct {
	URL string // https://127.0.0.1:port
	cfg Config
	key *ecdsa.PrivateKey
	srv *httptest.Server
	// stop ends hung requests when the server closes.
	stop chan struct{}

	mu            sync.Mutex
	answers       map[string]Answer
	accepted      []Push
	rejected      []string
	expiredBefore time.Time
	lastIAT       time.Time // the newest provider token seen
	tokens        int       // distinct provider tokens accepted
	lastJWT       string
}

// New starts a stand-in for cfg with a fresh signing key (see KeyP8);
// it closes when t ends.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	key := cfg.Key
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{cfg: cfg, key: key, answers: map[string]Answer{}, stop: make(chan struct{})}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.EnableHTTP2 = true
	s.srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	s.srv.StartTLS()
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close ends hung requests and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	s.srv.Close()
}

// KeyP8 returns the signing key as the .p8 file Apple issues.
func (s *Server) KeyP8() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Client returns an HTTP/2 client that trusts the stand-in.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// CertPool returns a pool holding the stand-in's certificate.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.srv.Certificate())
	return p
}

// CertPEM returns the stand-in's certificate in PEM, for a CA file.
func (s *Server) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// SetAnswer programs the answer for a device token (lower-case hex).
func (s *Server) SetAnswer(deviceToken string, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[deviceToken] = a
}

// ExpireTokensIssuedBefore makes provider tokens with an earlier iat
// ExpiredProviderToken, as Apple does with a token it considers stale.
func (s *Server) ExpireTokensIssuedBefore(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiredBefore = t
}

// Accepted returns the pushes accepted so far.
func (s *Server) Accepted() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.accepted...)
}

// Rejected returns why each request that broke Apple's rules was
// refused; a correct sender gets none (programmed answers do not count).
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rejected...)
}

// ProviderTokens returns how many distinct provider tokens were used.
func (s *Server) ProviderTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens
}

func (s *Server) reject(w http.ResponseWriter, status int, reason, why string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, why)
	s.mu.Unlock()
	answer(w, status, reason, 0)
}

func answer(w http.ResponseWriter, status int, reason string, ts int64) {
	w.Header().Set("apns-id", newID())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if ts != 0 {
		fmt.Fprintf(w, `{"reason":%q,"timestamp":%d}`, reason, ts)
		return
	}
	fmt.Fprintf(w, `{"reason":%q}`, reason)
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return strings.ToUpper(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:])
}

// serve checks a request in the order APNs documents its errors.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		s.reject(w, http.StatusBadRequest, "BadRequest", "not HTTP/2")
		return
	}
	if r.Method != http.MethodPost {
		s.reject(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method "+r.Method)
		return
	}
	dev, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok {
		s.reject(w, http.StatusNotFound, "BadPath", "path")
		return
	}
	if !hex64(dev) {
		s.reject(w, http.StatusBadRequest, "BadDeviceToken", "device token not 64 hex digits")
		return
	}
	iat, reason, programmed := s.checkProviderToken(r.Header.Values("Authorization"))
	if reason != "" {
		if programmed {
			answer(w, http.StatusForbidden, reason, 0) // the test's doing, not a sender bug
			return
		}
		status := http.StatusForbidden
		if reason == "TooManyProviderTokenUpdates" {
			status = http.StatusTooManyRequests
		}
		s.reject(w, status, reason, "provider token: "+reason)
		return
	}
	topic := r.Header.Get("apns-topic")
	if topic == "" {
		s.reject(w, http.StatusBadRequest, "MissingTopic", "no apns-topic")
		return
	}
	if topic != s.cfg.Topic {
		s.reject(w, http.StatusBadRequest, "TopicDisallowed", "apns-topic")
		return
	}
	pt := r.Header.Get("apns-push-type")
	prio := r.Header.Get("apns-priority")
	switch {
	case pt != "alert" && pt != "background":
		s.reject(w, http.StatusBadRequest, "InvalidPushType", "apns-push-type "+pt)
		return
	case prio != "" && prio != "10" && prio != "5" && prio != "1":
		s.reject(w, http.StatusBadRequest, "BadPriority", "apns-priority "+prio)
		return
	case pt == "background" && prio != "5":
		// Apple: background notifications must have priority 5.
		s.reject(w, http.StatusBadRequest, "BadPriority", "background push without apns-priority 5")
		return
	}
	exp := r.Header.Get("apns-expiration")
	expN, err := strconv.ParseInt(exp, 10, 64)
	if exp != "" && (err != nil || expN < 0) {
		s.reject(w, http.StatusBadRequest, "BadExpirationDate", "apns-expiration")
		return
	}
	cid := r.Header.Get("apns-collapse-id")
	if len(cid) > 64 {
		s.reject(w, http.StatusBadRequest, "BadCollapseId", "apns-collapse-id longer than 64 bytes")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		s.reject(w, http.StatusBadRequest, "BadRequest", "body")
		return
	}
	if len(body) > maxPayload {
		s.reject(w, http.StatusRequestEntityTooLarge, "PayloadTooLarge", "payload over 4096 bytes")
		return
	}
	if why := checkPayload(body, pt); why != "" {
		s.reject(w, http.StatusBadRequest, "PayloadEmpty", why)
		return
	}
	s.mu.Lock()
	a := s.answers[dev]
	s.mu.Unlock()
	switch a {
	case Unregistered:
		answer(w, http.StatusGone, "Unregistered", time.Now().UnixMilli())
		return
	case BadDeviceToken:
		answer(w, http.StatusBadRequest, "BadDeviceToken", 0)
		return
	case TooManyRequests:
		answer(w, http.StatusTooManyRequests, "TooManyRequests", 0)
		return
	case InternalError:
		answer(w, http.StatusInternalServerError, "InternalServerError", 0)
		return
	case Unavailable:
		answer(w, http.StatusServiceUnavailable, "ServiceUnavailable", 0)
		return
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, Push{
		DeviceToken: dev, PushType: pt, Priority: prio, Expiration: expN, CollapseID: cid,
		Payload: body, TokenIAT: iat,
	})
	s.mu.Unlock()
	w.Header().Set("apns-id", newID())
	w.WriteHeader(http.StatusOK)
}

// checkPayload checks that body is a JSON object with an aps dictionary
// fitting the push type, and with nothing else in it.
func checkPayload(body []byte, pushType string) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	var p map[string]json.RawMessage
	if err := dec.Decode(&p); err != nil || dec.More() {
		return "payload is not one JSON object"
	}
	raw, ok := p["aps"]
	if !ok {
		return "payload without aps"
	}
	var aps map[string]json.RawMessage
	if err := json.Unmarshal(raw, &aps); err != nil {
		return "aps is not an object"
	}
	switch pushType {
	case "background":
		if string(aps["content-available"]) != "1" {
			return "background push without content-available 1"
		}
		if _, ok := aps["alert"]; ok {
			return "background push with an alert"
		}
	case "alert":
		if _, ok := aps["alert"]; !ok {
			return "alert push without alert"
		}
	}
	return ""
}

func hex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// checkProviderToken verifies the authorization header: "bearer <JWT>",
// ES256 under the account's key, kid and iss the account's, iat within
// the last hour and not in the future. It returns the iat and, on
// failure, Apple's reason, and whether ExpireTokensIssuedBefore caused it.
func (s *Server) checkProviderToken(h []string) (time.Time, string, bool) {
	if len(h) != 1 {
		return time.Time{}, "MissingProviderToken", false
	}
	scheme, jwt, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return time.Time{}, "MissingProviderToken", false
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, "InvalidProviderToken", false
	}
	b64 := base64.RawURLEncoding
	hb, err1 := b64.DecodeString(parts[0])
	cb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || len(sig) != 64 {
		return time.Time{}, "InvalidProviderToken", false
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss string `json:"iss"`
		Iat *int64 `json:"iat"`
	}
	if json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil ||
		header.Alg != "ES256" || header.Kid != s.cfg.KeyID || claims.Iss != s.cfg.TeamID || claims.Iat == nil {
		return time.Time{}, "InvalidProviderToken", false
	}
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, sv := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(&s.key.PublicKey, d[:], r, sv) {
		return time.Time{}, "InvalidProviderToken", false
	}
	iat := time.Unix(*claims.Iat, 0)
	now := time.Now()
	if iat.After(now.Add(time.Minute)) {
		return time.Time{}, "InvalidProviderToken", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(iat) > tokenMaxAge {
		return time.Time{}, "ExpiredProviderToken", false
	}
	if iat.Before(s.expiredBefore) {
		return time.Time{}, "ExpiredProviderToken", true
	}
	if jwt != s.lastJWT {
		if s.lastJWT != "" && iat.Sub(s.lastIAT) < tokenMinRenewal {
			return time.Time{}, "TooManyProviderTokenUpdates", false
		}
		s.tokens++
		s.lastJWT, s.lastIAT = jwt, iat
	}
	return iat, "", false
}
