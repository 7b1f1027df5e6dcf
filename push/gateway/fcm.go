package gateway

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sealpost/sealpost/push/egress"
)

// FCM constants (spec/push.md §7).
const (
	DefaultFCMURL = "https://fcm.googleapis.com"
	fcmScope      = "https://www.googleapis.com/auth/firebase.messaging"
	jwtBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// An assertion's life, and how long before its expiry an access
	// token is replaced (spec/push.md §7.2).
	assertionLife    = time.Hour
	accessTokenSlack = 5 * time.Minute
	fcmCollapseKey   = "sealpost-wake"
	maxCredentials   = 64 << 10
)

// FCMConfig configures the FCM sender (spec/push.md §7).
type FCMConfig struct {
	// Credentials is the service account JSON file of the Firebase
	// project, as the Google Cloud console issues it.
	Credentials []byte
	// URL is the FCM server; empty means Google's.
	URL string
	// TTL is android.ttl; 0 means DefaultExpiry.
	TTL time.Duration
	// Client makes the requests, to the token endpoint too; nil means
	// one with providerTransport.
	Client *http.Client
}

// ServiceAccount is the part of a service account JSON file the FCM
// sender reads (spec/push.md §7.1).
type ServiceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// FCM sends wake-ups through Firebase Cloud Messaging's HTTP v1 API with
// an OAuth 2.0 access token from the service account (spec/push.md §7).
type FCM struct {
	sa      ServiceAccount
	key     *rsa.PrivateKey
	sendURL string
	ttl     time.Duration
	client  *http.Client
	now     func() time.Time

	// lock (a one-slot semaphore, so a wait ends with its context)
	// guards access and expires; a holder may be fetching a new token.
	lock    chan struct{}
	access  string
	expires time.Time
}

// NewFCM returns an FCM sender; it reports every problem with cfg.
func NewFCM(cfg FCMConfig) (*FCM, error) {
	var errs []error
	sa, key, err := ParseServiceAccount(cfg.Credentials)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.URL == "" {
		cfg.URL = DefaultFCMURL
	}
	if err := checkBaseURL(cfg.URL); err != nil {
		errs = append(errs, fmt.Errorf("gateway: FCM URL: %w", err))
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultExpiry
	}
	if cfg.TTL < time.Minute || cfg.TTL > 28*24*time.Hour {
		errs = append(errs, errors.New("gateway: FCM TTL: want 1m to 672h"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: providerTransport()}
	}
	return &FCM{
		sa: sa, key: key, ttl: cfg.TTL, client: cfg.Client, now: time.Now, lock: make(chan struct{}, 1),
		sendURL: trimSlash(cfg.URL) + "/v1/projects/" + url.PathEscape(sa.ProjectID) + "/messages:send",
	}, nil
}

// ParseServiceAccount parses a service account JSON file and its RSA key
// (PKCS#8 PEM) and checks the fields the sender uses.
func ParseServiceAccount(b []byte) (ServiceAccount, *rsa.PrivateKey, error) {
	var sa ServiceAccount
	if len(b) > maxCredentials {
		return sa, nil, errors.New("gateway: FCM credentials: file too large")
	}
	if err := json.Unmarshal(b, &sa); err != nil {
		return sa, nil, fmt.Errorf("gateway: FCM credentials: %w", err)
	}
	var errs []error
	if sa.Type != "service_account" {
		errs = append(errs, errors.New(`type is not "service_account"`))
	}
	if sa.ProjectID == "" || strings.ContainsAny(sa.ProjectID, "/?#% ") {
		errs = append(errs, errors.New("project_id missing or malformed"))
	}
	if sa.PrivateKeyID == "" {
		errs = append(errs, errors.New("private_key_id missing"))
	}
	if !strings.Contains(sa.ClientEmail, "@") {
		errs = append(errs, errors.New("client_email missing"))
	}
	if err := checkHTTPS(sa.TokenURI); err != nil {
		errs = append(errs, fmt.Errorf("token_uri: %w", err))
	}
	var key *rsa.PrivateKey
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	if block == nil || block.Type != "PRIVATE KEY" {
		errs = append(errs, errors.New("private_key: want a PEM PRIVATE KEY block"))
	} else if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		errs = append(errs, fmt.Errorf("private_key: %w", err))
	} else if rk, ok := k.(*rsa.PrivateKey); !ok || rk.N.BitLen() < 2048 {
		errs = append(errs, errors.New("private_key: want an RSA key of 2048 bits or more"))
	} else {
		key = rk
	}
	if len(errs) > 0 {
		return sa, nil, fmt.Errorf("gateway: FCM credentials: %w", errors.Join(errs...))
	}
	return sa, key, nil
}

// accessToken returns a cached access token, or gets one when there is
// none or it expires within accessTokenSlack (spec/push.md §7.2).
func (f *FCM) accessToken(ctx context.Context) (string, error) {
	select {
	case f.lock <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-f.lock }()
	now := f.now()
	if f.access != "" && now.Before(f.expires.Add(-accessTokenSlack)) {
		return f.access, nil
	}
	return f.fetchLocked(ctx, now)
}

// dropAccessToken forgets rejected, which FCM refused, so the next
// request gets a new one.
func (f *FCM) dropAccessToken(ctx context.Context, rejected string) {
	select {
	case f.lock <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-f.lock }()
	if f.access == rejected {
		f.access = ""
	}
}

// fetchLocked gets an access token by the JWT bearer grant (RFC 7523
// §2.1; spec/push.md §7.2).
func (f *FCM) fetchLocked(ctx context.Context, now time.Time) (string, error) {
	header := struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{"RS256", "JWT", f.sa.PrivateKeyID}
	claims := struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}{f.sa.ClientEmail, fcmScope, f.sa.TokenURI, now.Unix(), now.Add(assertionLife).Unix()}
	assertion, err := signJWT(header, claims, rs256(f.key))
	if err != nil {
		return "", &sendError{kind: kindFailed, reason: "assertion", err: err}
	}
	form := url.Values{"grant_type": {jwtBearer}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.sa.TokenURI, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &sendError{kind: kindFailed, reason: "token_request", err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.client.Do(req)
	if err != nil {
		return "", asSendError(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProviderBody))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		k := kindFailed
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			k = kindOutage
		}
		return "", &sendError{kind: k, status: resp.StatusCode, reason: "token:" + codeOnly(e.Error),
			after: egress.RetryAfter(resp.Header.Get("Retry-After"), now, maxRetryAfter)}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "Bearer") ||
		tok.ExpiresIn <= 0 || strings.ContainsAny(tok.AccessToken, " \r\n") {
		return "", &sendError{kind: kindFailed, status: resp.StatusCode, reason: "token:malformed_answer"}
	}
	f.access = tok.AccessToken
	f.expires = now.Add(time.Duration(min(tok.ExpiresIn, int64(assertionLife/time.Second))) * time.Second)
	return f.access, nil
}

// fcmMessage is the content-free message (spec/push.md §7.3).
type fcmMessage struct {
	Message struct {
		Token   string            `json:"token"`
		Data    map[string]string `json:"data"`
		Android struct {
			Priority    string `json:"priority"`
			TTL         string `json:"ttl"`
			CollapseKey string `json:"collapse_key"`
		} `json:"android"`
	} `json:"message"`
}

// send sends one wake-up to t (spec/push.md §7.3); a refusal is a
// *sendError.
func (f *FCM) send(ctx context.Context, t Token) error {
	var m fcmMessage
	m.Message.Token = t.DeviceToken
	m.Message.Data = map[string]string{"sealpost": "wake"}
	m.Message.Android.Priority = "HIGH"
	m.Message.Android.TTL = strconv.FormatInt(int64(f.ttl/time.Second), 10) + "s"
	m.Message.Android.CollapseKey = fcmCollapseKey
	body, err := json.Marshal(&m)
	if err != nil {
		return &sendError{kind: kindFailed, reason: "message", err: err}
	}
	for attempt := 0; ; attempt++ {
		access, err := f.accessToken(ctx)
		if err != nil {
			return asSendError(err)
		}
		status, e, after, err := f.post(ctx, access, body)
		if err != nil {
			return asSendError(err)
		}
		if status == http.StatusOK {
			return nil
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			f.dropAccessToken(ctx, access)
			continue
		}
		return fcmError(status, e, after)
	}
}

// fcmStatus is Google's error answer (google.rpc.Status as JSON) with the
// details the gateway reads.
type fcmStatus struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

// post makes one send request.
func (f *FCM) post(ctx context.Context, access string, body []byte) (int, *fcmStatus, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.sendURL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxProviderBody))
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, nil, 0, nil
	}
	var st fcmStatus
	_ = json.Unmarshal(b, &st)
	return resp.StatusCode, &st, egress.RetryAfter(resp.Header.Get("Retry-After"), f.now(), maxRetryAfter), nil
}

// Google's error detail types (spec/push.md §7.4).
const (
	fcmErrorType   = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
	badRequestType = "type.googleapis.com/google.rpc.BadRequest"
)

// fcmError classifies an FCM refusal (spec/push.md §7.4).
func fcmError(status int, st *fcmStatus, after time.Duration) error {
	code, tokenField := st.Error.Status, false
	for _, d := range st.Error.Details {
		switch d.Type {
		case fcmErrorType:
			if d.ErrorCode != "" {
				code = d.ErrorCode
			}
		case badRequestType:
			for _, v := range d.FieldViolations {
				tokenField = tokenField || v.Field == "message.token"
			}
		}
	}
	e := &sendError{kind: kindFailed, status: status, reason: codeOnly(code), after: after}
	switch {
	case code == "UNREGISTERED" && (status == http.StatusNotFound || status == http.StatusBadRequest):
		e.kind = kindGone
	case code == "INVALID_ARGUMENT" && status == http.StatusBadRequest &&
		(tokenField || strings.Contains(st.Error.Message, "registration token")):
		e.kind = kindGone
	case status == http.StatusTooManyRequests:
		e.kind = kindThrottled
	case status == http.StatusInternalServerError, status == http.StatusServiceUnavailable:
		e.kind = kindOutage
	}
	return e
}
