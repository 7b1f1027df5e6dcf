package gateway

import (
	"net/http"
	"testing"
	"time"
)

func TestAPNsErrorKinds(t *testing.T) {
	for _, c := range []struct {
		status int
		reason string
		want   kind
	}{
		{410, "Unregistered", kindGone},
		{410, "ExpiredToken", kindGone},
		{400, "BadDeviceToken", kindGone},
		{400, "DeviceTokenNotForTopic", kindFailed},
		{400, "BadTopic", kindFailed},
		{403, "InvalidProviderToken", kindFailed},
		{429, "TooManyRequests", kindThrottled},
		{429, "TooManyProviderTokenUpdates", kindFailed},
		{413, "PayloadTooLarge", kindFailed},
		{500, "InternalServerError", kindOutage},
		{503, "ServiceUnavailable", kindOutage},
		{503, "Shutdown", kindOutage},
	} {
		if got := apnsError(c.status, c.reason, 0).(*sendError).kind; got != c.want {
			t.Errorf("%d %s: %v, want %v", c.status, c.reason, got, c.want)
		}
	}
}

func TestFCMErrorKinds(t *testing.T) {
	st := func(status, code, msg, field string) *fcmStatus {
		var s fcmStatus
		s.Error.Status, s.Error.Message = status, msg
		if code != "" {
			s.Error.Details = append(s.Error.Details, struct {
				Type            string `json:"@type"`
				ErrorCode       string `json:"errorCode"`
				FieldViolations []struct {
					Field string `json:"field"`
				} `json:"fieldViolations"`
			}{Type: fcmErrorType, ErrorCode: code})
		}
		if field != "" {
			d := struct {
				Type            string `json:"@type"`
				ErrorCode       string `json:"errorCode"`
				FieldViolations []struct {
					Field string `json:"field"`
				} `json:"fieldViolations"`
			}{Type: badRequestType}
			d.FieldViolations = append(d.FieldViolations, struct {
				Field string `json:"field"`
			}{field})
			s.Error.Details = append(s.Error.Details, d)
		}
		return &s
	}
	for _, c := range []struct {
		name   string
		status int
		s      *fcmStatus
		want   kind
	}{
		{"unregistered", 404, st("NOT_FOUND", "UNREGISTERED", "Requested entity was not found.", ""), kindGone},
		{"invalid token by message", 400, st("INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token", ""), kindGone},
		{"invalid token by field", 400, st("INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid value", "message.token"), kindGone},
		{"invalid other field", 400, st("INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl'", "message.android.ttl"), kindFailed},
		{"not found without code", 404, st("NOT_FOUND", "", "Requested entity was not found.", ""), kindFailed},
		{"sender id mismatch", 403, st("PERMISSION_DENIED", "SENDER_ID_MISMATCH", "", ""), kindFailed},
		{"quota", 429, st("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "", ""), kindThrottled},
		{"unavailable", 503, st("UNAVAILABLE", "UNAVAILABLE", "", ""), kindOutage},
		{"internal", 500, st("INTERNAL", "INTERNAL", "", ""), kindOutage},
		{"third party auth", 401, st("UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "", ""), kindFailed},
		{"empty body", http.StatusBadGateway, &fcmStatus{}, kindFailed},
	} {
		if got := fcmError(c.status, c.s, 0).(*sendError).kind; got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(2, 3)
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if w := l.take("a", t0); w != 0 {
			t.Fatalf("take %d: wait %v", i, w)
		}
	}
	if w := l.take("a", t0); w != 500*time.Millisecond {
		t.Errorf("empty bucket: wait %v, want 500ms", w)
	}
	if w := l.take("b", t0); w != 0 {
		t.Errorf("another relay waits %v", w)
	}
	if w := l.take("a", t0.Add(500*time.Millisecond)); w != 0 {
		t.Errorf("after refill: wait %v", w)
	}
}
