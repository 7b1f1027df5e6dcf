// Package fcmtest is a stand-in for Firebase Cloud Messaging in tests: a
// local HTTP/2 server over TLS 1.3 with Google's OAuth 2.0 token endpoint
// (the JWT bearer grant of RFC 7523, as service accounts use it) and the
// FCM HTTP v1 send endpoint. It checks each request the way Google's
// documentation describes it and answers with Google's documented error
// JSON. A test programs answers per registration token, reads the
// messages it accepted, and asserts that it rejected none.
package fcmtest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Google's constants.
const (
	scope     = "https://www.googleapis.com/auth/firebase.messaging"
	grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	tokenPath = "/token"
	fcmError  = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
	// accessLife is the expires_in of the access tokens issued.
	accessLife = 3599
)

// Answer is a programmed answer for a registration token.
type Answer int

const (
	Deliver       Answer = iota // 200 with the message name (the default)
	Unregistered                // 404 NOT_FOUND, errorCode UNREGISTERED
	InvalidToken                // 400 INVALID_ARGUMENT on message.token
	QuotaExceeded               // 429 RESOURCE_EXHAUSTED, QUOTA_EXCEEDED, Retry-After
	Unavailable                 // 503 UNAVAILABLE, Retry-After
	Internal                    // 500 INTERNAL
	Hang                        // no answer until the client gives up
)

// Config is the Firebase project the stand-in serves.
type Config struct {
	ProjectID   string
	ClientEmail string
	// RetryAfter is the Retry-After of QuotaExceeded and Unavailable
	// answers, in seconds; 0 sends none.
	RetryAfter int
}

// Message is an accepted send.
type Message struct {
	Token       string
	Data        map[string]string
	Priority    string
	TTL         string
	CollapseKey string
}

// Server is a running stand-in.
type Server struct {
	URL   string // https://127.0.0.1:port, the FCM base URL
	cfg   Config
	key   *rsa.PrivateKey
	keyID string
	srv   *httptest.Server
	stop  chan struct{}

	mu       sync.Mutex
	answers  map[string]Answer
	access   map[string]time.Time // access token -> expiry
	issued   int
	accepted []Message
	rejected []string
}

// New starts a stand-in for cfg with a fresh service account key (see
// Credentials); it closes when t ends.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var id [20]byte
	rand.Read(id[:])
	s := &Server{cfg: cfg, key: key, keyID: hex.EncodeToString(id[:]), answers: map[string]Answer{},
		access: map[string]time.Time{}, stop: make(chan struct{})}
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

// Credentials returns the service account JSON file of the project, its
// token_uri the stand-in's token endpoint.
func (s *Server) Credentials() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		panic(err)
	}
	b, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  s.cfg.ProjectID,
		"private_key_id":              s.keyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                s.cfg.ClientEmail,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   s.URL + tokenPath,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	}, "", "  ")
	return b
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

// SetAnswer programs the answer for a registration token.
func (s *Server) SetAnswer(token string, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[token] = a
}

// ExpireAccessTokens makes every access token issued so far invalid, as
// when Google revokes or expires them early.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// AccessTokensIssued returns how many access tokens the token endpoint
// issued.
func (s *Server) AccessTokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// Accepted returns the messages accepted so far.
func (s *Server) Accepted() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.accepted...)
}

// Rejected returns why each request that broke Google's rules was
// refused; a correct sender gets none (programmed answers and expired
// access tokens do not count).
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rejected...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "", "not HTTP/2")
		return
	}
	if r.URL.Path == tokenPath {
		s.serveToken(w, r)
		return
	}
	s.serveSend(w, r)
}

// serveToken is the OAuth 2.0 token endpoint (RFC 6749 §5, RFC 7523).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	oauthErr := func(code, why string) {
		s.mu.Lock()
		s.rejected = append(s.rejected, "token: "+why)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, code, why)
	}
	if r.Method != http.MethodPost {
		oauthErr("invalid_request", "method "+r.Method)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		oauthErr("invalid_request", "content type "+ct)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		oauthErr("invalid_request", "form")
		return
	}
	if len(r.URL.RawQuery) != 0 {
		oauthErr("invalid_request", "query string")
		return
	}
	if r.PostForm.Get("grant_type") != grantType || len(r.PostForm["grant_type"]) != 1 {
		oauthErr("unsupported_grant_type", "grant_type")
		return
	}
	as := r.PostForm["assertion"]
	if len(as) != 1 {
		oauthErr("invalid_request", "assertion missing")
		return
	}
	if why := s.checkAssertion(as[0]); why != "" {
		oauthErr("invalid_grant", why)
		return
	}
	var b [32]byte
	rand.Read(b[:])
	tok := "ya29.test-" + base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	s.access[tok] = time.Now().Add(accessLife * time.Second)
	s.issued++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":%d,"token_type":"Bearer"}`, tok, accessLife)
}

// checkAssertion verifies the JWT of the grant: RS256 under the service
// account key, kid its id, iss its email, scope FCM's, aud the token
// endpoint, iat not in the future, exp after now and at most an hour
// after iat.
func (s *Server) checkAssertion(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "assertion is not a JWS"
	}
	b64 := base64.RawURLEncoding
	hb, err1 := b64.DecodeString(parts[0])
	cb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return "assertion encoding"
	}
	var header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Iat   *int64 `json:"iat"`
		Exp   *int64 `json:"exp"`
	}
	if json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return "assertion JSON"
	}
	if header.Alg != "RS256" || (header.Typ != "" && header.Typ != "JWT") || header.Kid != s.keyID {
		return "assertion header"
	}
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, d[:], sig) != nil {
		return "assertion signature"
	}
	if claims.Iss != s.cfg.ClientEmail {
		return "iss"
	}
	if !strings.Contains(" "+claims.Scope+" ", " "+scope+" ") {
		return "scope"
	}
	if claims.Aud != s.URL+tokenPath {
		return "aud"
	}
	if claims.Iat == nil || claims.Exp == nil {
		return "iat or exp missing"
	}
	now := time.Now().Unix()
	if *claims.Iat > now+60 || *claims.Exp <= now || *claims.Exp-*claims.Iat > 3600 || *claims.Exp <= *claims.Iat {
		return "iat/exp"
	}
	return ""
}

// sendPath is /v1/projects/{project}/messages:send.
var sendPath = regexp.MustCompile(`^/v1/projects/([^/]+)/messages:send$`)

// ttlRe is a protobuf Duration in JSON: seconds with up to 9 decimals
// and "s".
var ttlRe = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,9})?s$`)

// sendRequest is what the stand-in takes: a data-only message to one
// token with Android options; anything else (notification, apns,
// webpush, topic, condition, unknown fields) is refused.
type sendRequest struct {
	ValidateOnly bool `json:"validate_only"`
	Message      *struct {
		Token   string            `json:"token"`
		Data    map[string]string `json:"data"`
		Android *struct {
			Priority    string `json:"priority"`
			TTL         string `json:"ttl"`
			CollapseKey string `json:"collapse_key"`
		} `json:"android"`
	} `json:"message"`
}

func (s *Server) serveSend(w http.ResponseWriter, r *http.Request) {
	m := sendPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		s.rejectRPC(w, http.StatusNotFound, "NOT_FOUND", "", "path "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		s.rejectRPC(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "", "method "+r.Method)
		return
	}
	auth := r.Header.Values("Authorization")
	bearer, ok := "", len(auth) == 1
	if ok {
		var scheme string
		scheme, bearer, ok = strings.Cut(auth[0], " ")
		ok = ok && strings.EqualFold(scheme, "Bearer")
	}
	if !ok {
		s.rejectRPC(w, http.StatusUnauthorized, "UNAUTHENTICATED", "", "no bearer token")
		return
	}
	s.mu.Lock()
	exp, known := s.access[bearer]
	s.mu.Unlock()
	if !known || time.Now().After(exp) {
		// Expired or revoked: Google's to say, not a sender bug.
		rpc(w, http.StatusUnauthorized, "UNAUTHENTICATED",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "", 0)
		return
	}
	if m[1] != s.cfg.ProjectID {
		s.rejectRPC(w, http.StatusForbidden, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "project "+m[1])
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "content type "+ct)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "body")
		return
	}
	var req sendRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() || req.Message == nil {
		s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", fmt.Sprintf("message JSON: %v", err))
		return
	}
	msg := req.Message
	a := msg.Android
	switch {
	case msg.Token == "":
		s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "no token")
		return
	case len(msg.Data) == 0:
		s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "no data: a wake-up is data-only")
		return
	case a == nil:
		s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "no android options")
		return
	case a.Priority != "HIGH" && a.Priority != "NORMAL":
		s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "android.priority "+a.Priority)
		return
	case !ttlRe.MatchString(a.TTL):
		s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "android.ttl "+a.TTL)
		return
	}
	if secs, _ := strconv.ParseFloat(strings.TrimSuffix(a.TTL, "s"), 64); secs > 28*24*3600 {
		s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "android.ttl over 4 weeks")
		return
	}
	for k := range msg.Data {
		// Reserved keys (FCM documentation of data).
		if k == "from" || k == "notification" || k == "message_type" || strings.HasPrefix(k, "google") || strings.HasPrefix(k, "gcm") {
			s.rejectRPC(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "reserved data key "+k)
			return
		}
	}
	s.mu.Lock()
	ans := s.answers[msg.Token]
	s.mu.Unlock()
	switch ans {
	case Unregistered:
		rpc(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED", 0)
		return
	case InvalidToken:
		rpc(w, http.StatusBadRequest, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT", 0)
		return
	case QuotaExceeded:
		rpc(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED", s.cfg.RetryAfter)
		return
	case Unavailable:
		rpc(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE", s.cfg.RetryAfter)
		return
	case Internal:
		rpc(w, http.StatusInternalServerError, "INTERNAL", "Internal error encountered.", "INTERNAL", 0)
		return
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, Message{Token: msg.Token, Data: msg.Data, Priority: a.Priority, TTL: a.TTL, CollapseKey: a.CollapseKey})
	s.mu.Unlock()
	var id [8]byte
	rand.Read(id[:])
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"name":"projects/%s/messages/0:%d%%%s"}`, s.cfg.ProjectID, time.Now().UnixMicro(), hex.EncodeToString(id[:]))
}

func (s *Server) rejectRPC(w http.ResponseWriter, status int, st, errorCode, why string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, why)
	s.mu.Unlock()
	rpc(w, status, st, "Invalid request: "+st, errorCode, 0)
}

// rpc writes Google's error JSON (google.rpc.Status) with an FcmError
// detail when errorCode is set.
func rpc(w http.ResponseWriter, status int, st, message, errorCode string, retryAfter int) {
	type detail struct {
		Type      string `json:"@type"`
		ErrorCode string `json:"errorCode"`
	}
	var e struct {
		Error struct {
			Code    int      `json:"code"`
			Message string   `json:"message"`
			Status  string   `json:"status"`
			Details []detail `json:"details,omitempty"`
		} `json:"error"`
	}
	e.Error.Code, e.Error.Message, e.Error.Status = status, message, st
	if errorCode != "" {
		e.Error.Details = []detail{{fcmError, errorCode}}
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&e)
}
