package webpush_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/push/egress"
	"github.com/sealpost/sealpost/push/webpush"
	"github.com/sealpost/sealpost/push/webpush/webpushtest"
)

// wake is the message the relay sends (spec/push.md §4.7).
var wake = webpush.Message{TTL: 24 * time.Hour, Urgency: "high", Topic: "sealpostwake"}

func newSender(t *testing.T, srv *webpushtest.Server, client *http.Client) (*webpush.Sender, *webpush.VAPIDKey) {
	t.Helper()
	key, err := webpush.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	if client == nil {
		client = srv.Client()
	}
	s, err := webpush.NewSender(webpush.SenderConfig{Key: key, Subject: "mailto:ops@example.org", Client: client})
	if err != nil {
		t.Fatal(err)
	}
	return s, key
}

// noPath checks that a result's error does not reveal the endpoint's path.
func noPath(t *testing.T, r webpush.Result, sub webpush.Subscription) {
	t.Helper()
	id := sub.Endpoint[strings.LastIndex(sub.Endpoint, "/")+1:]
	if r.Err != nil && strings.Contains(r.Err.Error(), id) {
		t.Errorf("error %q holds the endpoint's path", r.Err)
	}
}

func TestSendDelivers(t *testing.T) {
	srv := webpushtest.New(t)
	s, key := newSender(t, srv, nil)
	srv.ExpectVAPID(key.PublicKey())
	sub := srv.NewSubscription()
	for range 2 {
		r := s.Send(context.Background(), sub, wake, []byte(webpush.WakeMarker))
		if r.Outcome != webpush.Delivered || r.Status != http.StatusCreated || r.Err != nil {
			t.Fatalf("%v %d %v (rejections %v)", r.Outcome, r.Status, r.Err, srv.Rejections())
		}
	}
	if n := srv.Rejected(); n != 0 {
		t.Fatalf("%d rejected: %v", n, srv.Rejections())
	}
	msgs := srv.Messages(sub)
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if string(m.Plaintext) != webpush.WakeMarker || m.TTL != 86400 || m.Urgency != "high" || m.Topic != "sealpostwake" ||
		string(m.VAPIDKey) != string(key.PublicKey()) {
		t.Fatalf("received %+v", m)
	}
	h := m.Header
	if h.Get("Content-Encoding") != "aes128gcm" || h.Get("Content-Type") != "application/octet-stream" ||
		h.Get("Content-Length") != strconv.Itoa(86+16+1+16) {
		t.Fatalf("headers %v", h)
	}
	// The VAPID token is reused for the same push service.
	if msgs[1].Header.Get("Authorization") != h.Get("Authorization") {
		t.Fatal("a new token for each message")
	}
	// Nothing is sent for an empty Urgency and Topic.
	r := s.Send(context.Background(), sub, webpush.Message{}, []byte(webpush.WakeMarker))
	if r.Outcome != webpush.Delivered {
		t.Fatal(r.Err)
	}
	last := srv.Messages(sub)[2]
	if _, ok := last.Header["Urgency"]; ok || last.Header.Get("Topic") != "" || last.TTL != 0 {
		t.Fatalf("headers %v", last.Header)
	}
}

// Each answer of the push service maps to the outcome spec/push.md §4.9
// gives it.
func TestSendClassifies(t *testing.T) {
	srv := webpushtest.New(t)
	s, _ := newSender(t, srv, nil)
	now := time.Now()
	date := now.Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		fault      webpushtest.Fault
		outcome    webpush.Outcome
		retryAfter time.Duration
	}{
		{webpushtest.Fault{Status: 200}, webpush.Delivered, 0},
		{webpushtest.Fault{Status: 202}, webpush.Delivered, 0},
		{webpushtest.Fault{Status: 404}, webpush.Gone, 0},
		{webpushtest.Fault{Status: 410}, webpush.Gone, 0},
		{webpushtest.Fault{Status: 429, RetryAfter: "30"}, webpush.Retry, 30 * time.Second},
		{webpushtest.Fault{Status: 429, RetryAfter: date}, webpush.Retry, 2 * time.Minute},
		{webpushtest.Fault{Status: 429, RetryAfter: "soon"}, webpush.Retry, 0},
		{webpushtest.Fault{Status: 429, RetryAfter: "99999999"}, webpush.Retry, 24 * time.Hour},
		{webpushtest.Fault{Status: 429}, webpush.Retry, 0},
		{webpushtest.Fault{Status: 408}, webpush.Retry, 0},
		{webpushtest.Fault{Status: 500}, webpush.Retry, 0},
		{webpushtest.Fault{Status: 502}, webpush.Retry, 0},
		{webpushtest.Fault{Status: 503, RetryAfter: "120"}, webpush.Retry, 2 * time.Minute},
		{webpushtest.Fault{Status: 400}, webpush.Refused, 0},
		{webpushtest.Fault{Status: 401}, webpush.Refused, 0},
		{webpushtest.Fault{Status: 403}, webpush.Refused, 0},
		{webpushtest.Fault{Status: 413}, webpush.Refused, 0},
		{webpushtest.Fault{Status: 418}, webpush.Refused, 0},
		{webpushtest.Fault{Status: 204}, webpush.Refused, 0},
		{webpushtest.Fault{Status: 301}, webpush.Refused, 0},
		{webpushtest.Fault{RedirectTo: "https://127.0.0.1:1/elsewhere"}, webpush.Refused, 0},
	} {
		sub := srv.NewSubscription()
		srv.SetFault(sub, c.fault)
		r := s.Send(context.Background(), sub, wake, []byte(webpush.WakeMarker))
		want := c.fault.Status
		if c.fault.RedirectTo != "" {
			want = http.StatusTemporaryRedirect
		}
		d := r.RetryAfter - c.retryAfter
		if r.Outcome != c.outcome || r.Status != want || d < -2*time.Second || d > 0 {
			t.Errorf("%+v: %v %d retry after %v (%v)", c.fault, r.Outcome, r.Status, r.RetryAfter, r.Err)
		}
		if (r.Err == nil) != (c.outcome == webpush.Delivered) {
			t.Errorf("%+v: Err %v", c.fault, r.Err)
		}
		noPath(t, r, sub)
		if len(srv.Messages(sub)) != 0 {
			t.Errorf("%+v: recorded", c.fault)
		}
	}

	sub := srv.NewSubscription()
	srv.Gone(sub)
	if r := s.Send(context.Background(), sub, wake, []byte(webpush.WakeMarker)); r.Outcome != webpush.Gone || r.Status != 410 {
		t.Errorf("Gone: %v %d", r.Outcome, r.Status)
	}
	unknown := srv.NewSubscription()
	unknown.Endpoint = srv.URL() + webpushtest.PathPrefix + "nobody"
	if r := s.Send(context.Background(), unknown, wake, []byte(webpush.WakeMarker)); r.Outcome != webpush.Gone || r.Status != 404 {
		t.Errorf("unknown subscription: %v %d", r.Outcome, r.Status)
	}
	if srv.Rejected() != 1 {
		t.Fatalf("rejections %v, want the unknown subscription's only", srv.Rejections())
	}
}

// A subscription restricted to another VAPID key refuses the message
// (RFC 8292 §4.2), and the sender reports it as refused.
func TestSendWrongVAPIDKey(t *testing.T) {
	srv := webpushtest.New(t)
	s, _ := newSender(t, srv, nil)
	other, _ := webpush.GenerateVAPIDKey()
	srv.ExpectVAPID(other.PublicKey())
	sub := srv.NewSubscription()
	r := s.Send(context.Background(), sub, wake, []byte(webpush.WakeMarker))
	if r.Outcome != webpush.Refused || r.Status != http.StatusForbidden {
		t.Fatalf("%v %d", r.Outcome, r.Status)
	}
	if srv.Rejected() != 1 || len(srv.Messages(sub)) != 0 {
		t.Fatalf("rejections %v", srv.Rejections())
	}
}

// A push service that never answers is given up on when the context ends,
// and that is a Retry.
func TestSendHangTimesOut(t *testing.T) {
	srv := webpushtest.New(t)
	s, _ := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	srv.SetFault(sub, webpushtest.Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := s.Send(ctx, sub, wake, []byte(webpush.WakeMarker))
	if r.Outcome != webpush.Retry || r.Status != 0 || !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Fatalf("%v %d %v", r.Outcome, r.Status, r.Err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	noPath(t, r, sub)
}

// With the default client (public addresses only) an endpoint on
// 127.0.0.1 is refused before any byte is sent.
func TestSendForbiddenAddress(t *testing.T) {
	srv := webpushtest.New(t)
	key, _ := webpush.GenerateVAPIDKey()
	s, err := webpush.NewSender(webpush.SenderConfig{Key: key, Subject: "https://example.org/contact"})
	if err != nil {
		t.Fatal(err)
	}
	sub := srv.NewSubscription()
	r := s.Send(context.Background(), sub, wake, []byte(webpush.WakeMarker))
	if r.Outcome != webpush.Refused || r.Status != 0 || !errors.Is(r.Err, egress.ErrForbiddenAddress) {
		t.Fatalf("%v %d %v", r.Outcome, r.Status, r.Err)
	}
	noPath(t, r, sub)
	if srv.Rejected() != 0 || len(srv.Messages(sub)) != 0 {
		t.Fatal("the request reached the service")
	}
}

// A closed port is a network error: Retry.
func TestSendNetworkError(t *testing.T) {
	srv := webpushtest.New(t)
	s, _ := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	sub.Endpoint = "https://127.0.0.1:1/push/x"
	if r := s.Send(context.Background(), sub, wake, []byte(webpush.WakeMarker)); r.Outcome != webpush.Retry || r.Err == nil {
		t.Fatalf("%v %v", r.Outcome, r.Err)
	}
}

// What the sender refuses itself never reaches the service.
func TestSendRefusesInvalidInput(t *testing.T) {
	srv := webpushtest.New(t)
	s, _ := newSender(t, srv, nil)
	good := srv.NewSubscription()
	badSub := good
	badSub.Auth = nil
	for name, c := range map[string]struct {
		sub     webpush.Subscription
		m       webpush.Message
		payload []byte
		kind    error
	}{
		"subscription": {badSub, wake, []byte(webpush.WakeMarker), webpush.ErrInvalidSubscription},
		"negative TTL": {good, webpush.Message{TTL: -time.Second}, nil, nil},
		"TTL too long": {good, webpush.Message{TTL: webpush.MaxTTL + time.Second}, nil, nil},
		"urgency":      {good, webpush.Message{Urgency: "urgent"}, nil, nil},
		"topic long":   {good, webpush.Message{Topic: strings.Repeat("a", 33)}, nil, nil},
		"topic chars":  {good, webpush.Message{Topic: "wake up"}, nil, nil},
		"payload":      {good, wake, make([]byte, webpush.MaxPlaintext+1), nil},
	} {
		r := s.Send(context.Background(), c.sub, c.m, c.payload)
		if r.Outcome != webpush.Refused || r.Err == nil || (c.kind != nil && !errors.Is(r.Err, c.kind)) {
			t.Errorf("%s: %v %v", name, r.Outcome, r.Err)
		}
	}
	if len(srv.Messages(good)) != 0 || srv.Rejected() != 0 {
		t.Fatal("a request reached the service")
	}
}

func TestNewSenderRefuses(t *testing.T) {
	key, _ := webpush.GenerateVAPIDKey()
	for name, cfg := range map[string]webpush.SenderConfig{
		"no key":      {Subject: "mailto:ops@example.org"},
		"no subject":  {Key: key},
		"bad subject": {Key: key, Subject: "ops@example.org"},
	} {
		if s, err := webpush.NewSender(cfg); err == nil || s != nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := webpush.NewSender(webpush.SenderConfig{Subject: "x"}); err == nil || !strings.Contains(err.Error(), "key") || !strings.Contains(err.Error(), "subject") {
		t.Errorf("not every problem reported: %v", err)
	}
}

func TestOutcomeString(t *testing.T) {
	for o, s := range map[webpush.Outcome]string{webpush.Delivered: "delivered", webpush.Gone: "gone", webpush.Retry: "retry", webpush.Refused: "refused", 0: "Outcome(0)"} {
		if o.String() != s {
			t.Errorf("%d: %q", int(o), o.String())
		}
	}
}

// A client that follows redirects is made not to: the 3xx is the answer.
func TestSendFollowsNoRedirectWhateverTheClient(t *testing.T) {
	srv := webpushtest.New(t)
	c := srv.Client()
	c.CheckRedirect = nil // net/http's default: follow up to 10
	s, _ := newSender(t, srv, c)
	sub, target := srv.NewSubscription(), srv.NewSubscription()
	srv.SetFault(sub, webpushtest.Fault{RedirectTo: target.Endpoint})
	r := s.Send(context.Background(), sub, wake, []byte(webpush.WakeMarker))
	if r.Outcome != webpush.Refused || r.Status != http.StatusTemporaryRedirect {
		t.Fatalf("%v %d", r.Outcome, r.Status)
	}
	if len(srv.Messages(target)) != 0 || srv.Rejected() != 0 {
		t.Fatal("the redirect was followed")
	}
}
