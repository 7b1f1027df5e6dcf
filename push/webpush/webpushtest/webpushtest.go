// Package webpushtest is a push service for tests: an HTTPS server (TLS
// 1.3, its own certificate, on 127.0.0.1) that checks every request as a
// strict push service would (RFC 8030, RFC 8292), decrypts the message as
// the user agent would (RFC 8291), and records it. A test makes
// subscriptions with NewSubscription, sends to them with a webpush.Sender
// built on Client, and reads Messages; Rejected counts the requests the
// service refused, so a test can assert that none was. SetFault and Gone
// make a subscription answer as a failing service would.
package webpushtest

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/push/egress"
	"github.com/sealpost/sealpost/push/webpush"
)

// PathPrefix is the path of every endpoint, followed by the subscription's
// id.
const PathPrefix = "/push/"

// Received is one message the service accepted.
type Received struct {
	Time time.Time
	// SubscriptionID is the last path segment of the endpoint.
	SubscriptionID string
	// Header is the request's header, Authorization included.
	Header http.Header
	// TTL, Urgency and Topic are the parsed headers (Urgency and Topic
	// empty when absent).
	TTL     int64
	Urgency string
	Topic   string
	// VAPIDKey is the k parameter, decoded.
	VAPIDKey []byte
	// Plaintext is the decrypted payload.
	Plaintext []byte
}

// Rejection is a request the service refused, and why.
type Rejection struct {
	SubscriptionID string
	Status         int
	Reason         string
}

// Fault makes a subscription answer as a failing push service would,
// after the request has passed every check. The first non-zero field
// wins, in the order Hang, RedirectTo, Status.
type Fault struct {
	// Status is answered instead of 201.
	Status int
	// RetryAfter is the Retry-After header sent with Status, if not empty.
	RetryAfter string
	// Hang keeps the request open until the client gives up or the server
	// closes.
	Hang bool
	// RedirectTo answers 307 with this Location.
	RedirectTo string
}

// Server is the test push service.
type Server struct {
	srv  *httptest.Server
	pool *x509.CertPool
	done chan struct{}

	mu       sync.Mutex
	subs     map[string]*subscription
	vapid    []byte
	rejected []Rejection
}

type subscription struct {
	key      *ecdh.PrivateKey
	auth     []byte
	gone     bool
	fault    Fault
	received []Received
}

// New starts a Server on 127.0.0.1 that stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	cert, pool, err := newCertificate()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{pool: pool, done: make(chan struct{}), subs: map[string]*subscription{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	s.srv.StartTLS()
	t.Cleanup(func() {
		close(s.done)
		s.srv.Close()
	})
	return s
}

// URL is the service's origin, https://127.0.0.1:port: the aud every
// VAPID token sent to it must carry.
func (s *Server) URL() string { return s.srv.URL }

// CertPool holds the service's certificate, to be trusted by clients.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Client returns an egress client that trusts the service and may reach
// 127.0.0.1 (egress.Config.AllowPrivate), with egress's default timeout;
// build one with egress.NewClient and CertPool for another.
func (s *Server) Client() *http.Client {
	return egress.NewClient(egress.Config{AllowPrivate: true, RootCAs: s.pool})
}

// NewSubscription makes a subscription as a user agent would: a fresh
// P-256 key, a fresh authentication secret, and an endpoint
// URL()/push/<random id>.
func (s *Server) NewSubscription() webpush.Subscription {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	auth := make([]byte, webpush.AuthSize)
	rand.Read(auth)
	idb := make([]byte, 16)
	rand.Read(idb)
	id := base64.RawURLEncoding.EncodeToString(idb)
	s.mu.Lock()
	s.subs[id] = &subscription{key: key, auth: auth}
	s.mu.Unlock()
	return webpush.Subscription{Endpoint: s.URL() + PathPrefix + id, P256dh: key.PublicKey().Bytes(), Auth: auth}
}

// ExpectVAPID restricts every subscription to the VAPID public key pub (65
// bytes): a request signed with another key is refused with 403, as
// RFC 8292 §4.2 says of a restricted subscription.
func (s *Server) ExpectVAPID(pub []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vapid = append([]byte(nil), pub...)
}

// Messages returns what sub has received, oldest first.
func (s *Server) Messages(sub webpush.Subscription) []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.subs[subscriptionID(sub)]
	if st == nil {
		return nil
	}
	out := make([]Received, len(st.received))
	copy(out, st.received)
	return out
}

// Rejected is the number of requests the service refused for failing a
// check (not those answered by a Fault or Gone).
func (s *Server) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rejected)
}

// Rejections returns the refused requests with their reasons.
func (s *Server) Rejections() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rejection(nil), s.rejected...)
}

// SetFault makes sub answer f from now on; a zero Fault ends it.
func (s *Server) SetFault(sub webpush.Subscription, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.subs[subscriptionID(sub)]; st != nil {
		st.fault = f
	}
}

// Gone makes sub answer 410 from now on, as for an unsubscribed user
// agent.
func (s *Server) Gone(sub webpush.Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.subs[subscriptionID(sub)]; st != nil {
		st.gone = true
	}
}

func subscriptionID(sub webpush.Subscription) string {
	i := strings.LastIndex(sub.Endpoint, PathPrefix)
	if i < 0 {
		return ""
	}
	return sub.Endpoint[i+len(PathPrefix):]
}

// serve handles one push request (RFC 8030 §5): checks first, then the
// subscription's state, then the message is decrypted and recorded.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	s.mu.Lock()
	st := s.subs[id]
	expect := s.vapid
	s.mu.Unlock()
	reject := func(status int, reason string) {
		s.mu.Lock()
		s.rejected = append(s.rejected, Rejection{SubscriptionID: id, Status: status, Reason: reason})
		s.mu.Unlock()
		http.Error(w, http.StatusText(status), status)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(http.StatusMethodNotAllowed, "method "+r.Method)
		return
	}
	if !ok || st == nil {
		reject(http.StatusNotFound, "unknown subscription")
		return
	}
	s.mu.Lock()
	gone, fault := st.gone, st.fault
	s.mu.Unlock()
	if gone {
		http.Error(w, "subscription expired", http.StatusGone)
		return
	}
	key, err := verifyVAPID(r.Header.Get("Authorization"), s.URL(), time.Now())
	if err != nil {
		w.Header().Set("WWW-Authenticate", "vapid")
		reject(http.StatusUnauthorized, err.Error())
		return
	}
	if expect != nil && string(key) != string(expect) {
		reject(http.StatusForbidden, "VAPID key is not the one the subscription is restricted to")
		return
	}
	ttl, err := strconv.ParseInt(r.Header.Get("TTL"), 10, 64)
	if err != nil || ttl < 0 || r.Header.Get("TTL") != strconv.FormatInt(ttl, 10) {
		reject(http.StatusBadRequest, "TTL missing or not a non-negative integer")
		return
	}
	urgency := r.Header.Get("Urgency")
	switch urgency {
	case "", "very-low", "low", "normal", "high":
	default:
		reject(http.StatusBadRequest, "urgency "+strconv.Quote(urgency))
		return
	}
	topic := r.Header.Get("Topic")
	if !validTopic(topic) {
		reject(http.StatusBadRequest, "topic "+strconv.Quote(topic))
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		reject(http.StatusUnsupportedMediaType, "content encoding "+strconv.Quote(ce))
		return
	}
	if r.ContentLength < 0 {
		reject(http.StatusLengthRequired, "no Content-Length")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, webpush.MaxBody+1))
	if err != nil {
		reject(http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	if len(body) > webpush.MaxBody {
		reject(http.StatusRequestEntityTooLarge, "body over 4096 bytes")
		return
	}
	pt, err := webpush.Decrypt(body, st.key, st.auth)
	if err != nil {
		reject(http.StatusBadRequest, "body does not decrypt")
		return
	}
	switch {
	case fault.Hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		// Drop the connection without an answer: a hung service never
		// answers, even after the client gave up.
		panic(http.ErrAbortHandler)
	case fault.RedirectTo != "":
		http.Redirect(w, r, fault.RedirectTo, http.StatusTemporaryRedirect)
		return
	case fault.Status != 0:
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		http.Error(w, http.StatusText(fault.Status), fault.Status)
		return
	}
	s.mu.Lock()
	st.received = append(st.received, Received{
		Time: time.Now(), SubscriptionID: id, Header: r.Header.Clone(),
		TTL: ttl, Urgency: urgency, Topic: topic, VAPIDKey: key, Plaintext: pt,
	})
	n := len(st.received)
	s.mu.Unlock()
	w.Header().Set("Location", s.URL()+"/message/"+id+"/"+strconv.Itoa(n))
	w.WriteHeader(http.StatusCreated)
}

func validTopic(t string) bool {
	if len(t) > 32 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
