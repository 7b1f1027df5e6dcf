package webpush

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sealpost/sealpost/push/egress"
)

// Message holds the RFC 8030 parameters of one push message
// (spec/push.md §4.7).
type Message struct {
	// TTL is how long the push service may keep the message (RFC 8030
	// §5.2), sent in whole seconds; 0 means deliver now or never. At most
	// MaxTTL.
	TTL time.Duration
	// Urgency is "very-low", "low", "normal" or "high" (RFC 8030 §5.3);
	// empty sends no Urgency header (the service's default, normal).
	Urgency string
	// Topic, if not empty, lets the push service replace an undelivered
	// message of the same topic with this one (RFC 8030 §5.4): at most 32
	// characters of the base64url alphabet.
	Topic string
}

// MaxTTL is the longest TTL a Message may ask for: four weeks, the most
// the large push services keep a message.
const MaxTTL = 28 * 24 * time.Hour

// maxTopic is the longest Topic (RFC 8030 §5.4).
const maxTopic = 32

// Validate checks the message's parameters.
func (m Message) Validate() error {
	if m.TTL < 0 || m.TTL > MaxTTL {
		return fmt.Errorf("webpush: TTL %v outside 0 to %v", m.TTL, MaxTTL)
	}
	switch m.Urgency {
	case "", "very-low", "low", "normal", "high":
	default:
		return fmt.Errorf("webpush: urgency %q", m.Urgency)
	}
	if len(m.Topic) > maxTopic {
		return fmt.Errorf("webpush: topic of %d characters, at most %d", len(m.Topic), maxTopic)
	}
	for i := 0; i < len(m.Topic); i++ {
		c := m.Topic[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("webpush: topic holds %q, outside the base64url alphabet", c)
		}
	}
	return nil
}

// Outcome is what a send means for the registration (spec/push.md §4.9).
type Outcome int

const (
	// Delivered: the push service accepted the message (200, 201, 202).
	Delivered Outcome = iota + 1
	// Gone: the subscription no longer exists (404, 410); remove the
	// registration.
	Gone
	// Retry: nothing was refused for good (408, 429, 5xx, a timeout or a
	// network error); try again later, not before RetryAfter if given.
	Retry
	// Refused: the push service (or this sender) refused the message for
	// good (3xx, 400, 401, 403, 413, any other status, a forbidden
	// address, an invalid subscription or message); sending it again will
	// not help.
	Refused
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Gone:
		return "gone"
	case Retry:
		return "retry"
	case Refused:
		return "refused"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result is the outcome of one Send.
type Result struct {
	Outcome Outcome
	// Status is the push service's HTTP status; 0 if none was received.
	Status int
	// RetryAfter is the delay the push service asked for (Retry-After on
	// a 429 or 5xx), 0 if it gave none.
	RetryAfter time.Duration
	// Err says why, for logs, when Outcome is not Delivered. It never
	// holds the endpoint's path, the payload or the response body.
	Err error
}

// SenderConfig configures NewSender.
type SenderConfig struct {
	// Key is the VAPID key; required.
	Key *VAPIDKey
	// Subject is the sub claim: "mailto:" with the operator's address or
	// an "https:" URL (CheckSubject); required.
	Subject string
	// Client sends the requests; nil means egress.NewClient with its
	// defaults (public addresses only). Only an egress client guards the
	// addresses (spec/push.md §4.8). The Sender follows no redirect,
	// whatever the client's CheckRedirect.
	Client *http.Client
	// Now is the clock of the tokens and of Retry-After dates; nil means
	// time.Now.
	Now func() time.Time
}

// Sender sends Web Push messages (spec/push.md §4). It is safe for
// concurrent use.
type Sender struct {
	key     *VAPIDKey
	subject string
	client  *http.Client
	now     func() time.Time
	tokens  tokenCache
}

// maxResponse bounds what is read of a response body, only to reuse the
// connection; it is never looked at.
const maxResponse = 4 << 10

// maxRetryAfter bounds RetryAfter, so that a push service cannot park a
// registration for longer than a day.
const maxRetryAfter = 24 * time.Hour

// NewSender returns a Sender, or every problem of cfg.
func NewSender(cfg SenderConfig) (*Sender, error) {
	var errs []error
	if cfg.Key == nil {
		errs = append(errs, errors.New("webpush: no VAPID key"))
	}
	if err := CheckSubject(cfg.Subject); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Sender{key: cfg.Key, subject: cfg.Subject, now: cfg.Now}
	if cfg.Client == nil {
		s.client = egress.NewClient(egress.Config{})
	} else {
		c := *cfg.Client
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		s.client = &c
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Send encrypts payload for sub and posts it to sub's endpoint with m's
// parameters (spec/push.md §4.7), and tells what the answer means for the
// registration (§4.9). ctx bounds the request; its end is a Retry.
func (s *Sender) Send(ctx context.Context, sub Subscription, m Message, payload []byte) Result {
	refused := func(err error) Result { return Result{Outcome: Refused, Err: err} }
	if err := sub.Validate(); err != nil {
		return refused(err)
	}
	if err := m.Validate(); err != nil {
		return refused(err)
	}
	aud, err := audience(sub.Endpoint)
	if err != nil {
		return refused(err)
	}
	body, err := Encrypt(rand.Reader, sub, payload)
	if err != nil {
		return refused(err)
	}
	auth, err := s.tokens.get(s.key, aud, s.subject, s.now())
	if err != nil {
		return refused(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return refused(fmt.Errorf("%w: endpoint", ErrInvalidSubscription))
	}
	req.Header.Set("TTL", strconv.FormatInt(int64(m.TTL/time.Second), 10))
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", auth)
	if m.Urgency != "" {
		req.Header.Set("Urgency", m.Urgency)
	}
	if m.Topic != "" {
		req.Header.Set("Topic", m.Topic)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return transportResult(aud, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	return s.classify(aud, resp)
}

// transportResult maps a failed request: a forbidden address or a URL the
// client will not fetch is refused for good, anything else (timeouts,
// resets, TLS failures, the caller's cancellation) may pass. The error
// names the origin only: an endpoint's path is its capability.
func transportResult(aud string, err error) Result {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	err = fmt.Errorf("webpush: post to %s: %w", aud, err)
	if errors.Is(err, egress.ErrForbiddenAddress) || errors.Is(err, egress.ErrInvalidURL) {
		return Result{Outcome: Refused, Err: err}
	}
	return Result{Outcome: Retry, Err: err}
}

// classify maps the push service's status (spec/push.md §4.9).
func (s *Sender) classify(aud string, resp *http.Response) Result {
	code := resp.StatusCode
	r := Result{Status: code}
	switch {
	case code == http.StatusOK || code == http.StatusCreated || code == http.StatusAccepted:
		r.Outcome = Delivered
		return r
	case code == http.StatusNotFound || code == http.StatusGone:
		r.Outcome = Gone
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500 && code <= 599:
		r.Outcome = Retry
		r.RetryAfter = egress.RetryAfter(resp.Header.Get("Retry-After"), s.now(), maxRetryAfter)
	default:
		r.Outcome = Refused
	}
	r.Err = fmt.Errorf("webpush: %s answered %d", aud, code)
	return r
}
