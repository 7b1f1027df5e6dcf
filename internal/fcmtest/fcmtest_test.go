package fcmtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	project = "proj-1"
	email   = "svc@proj-1.iam.gserviceaccount.com"
)

func assertion(t *testing.T, key *rsa.PrivateKey, kid, claims string) string {
	b64 := base64.RawURLEncoding
	in := b64.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"`+kid+`"}`)) + "." + b64.EncodeToString([]byte(claims))
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64.EncodeToString(sig)
}

func claims(s *Server, iss, scope, aud string, iat, exp int64) string {
	b, _ := json.Marshal(map[string]any{"iss": iss, "scope": scope, "aud": aud, "iat": iat, "exp": exp})
	return string(b)
}

func (s *Server) token(t *testing.T, grant, as string) (int, string) {
	t.Helper()
	resp, err := s.Client().PostForm(s.URL+tokenPath, url.Values{"grant_type": {grant}, "assertion": {as}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	return resp.StatusCode, tok.AccessToken
}

func (s *Server) send(t *testing.T, access, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStandInChecks(t *testing.T) {
	s := New(t, Config{ProjectID: project, ClientEmail: email, RetryAfter: 9})
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now().Unix()
	aud := s.URL + tokenPath
	for _, c := range []struct {
		name, grant, as string
	}{
		{"grant type", "client_credentials", assertion(t, s.key, s.keyID, claims(s, email, scope, aud, now, now+3600))},
		{"other key", grantType, assertion(t, other, s.keyID, claims(s, email, scope, aud, now, now+3600))},
		{"kid", grantType, assertion(t, s.key, "x", claims(s, email, scope, aud, now, now+3600))},
		{"iss", grantType, assertion(t, s.key, s.keyID, claims(s, "x@y", scope, aud, now, now+3600))},
		{"scope", grantType, assertion(t, s.key, s.keyID, claims(s, email, "https://www.googleapis.com/auth/cloud-platform.read-only", aud, now, now+3600))},
		{"aud", grantType, assertion(t, s.key, s.keyID, claims(s, email, scope, "https://oauth2.googleapis.com/token", now, now+3600))},
		{"expired", grantType, assertion(t, s.key, s.keyID, claims(s, email, scope, aud, now-7200, now-3600))},
		{"too long", grantType, assertion(t, s.key, s.keyID, claims(s, email, scope, aud, now, now+7200))},
	} {
		if st, tok := s.token(t, c.grant, c.as); st != 400 || tok != "" {
			t.Errorf("%s: %d %q", c.name, st, tok)
		}
	}
	st, access := s.token(t, grantType, assertion(t, s.key, s.keyID, claims(s, email, scope, aud, now, now+3600)))
	if st != 200 || access == "" {
		t.Fatalf("good assertion: %d", st)
	}
	path := "/v1/projects/" + project + "/messages:send"
	good := `{"message":{"token":"tok1","data":{"sealpost":"wake"},"android":{"priority":"HIGH","ttl":"60s","collapse_key":"k"}}}`
	if st, body := s.send(t, access, path, good); st != 200 || !strings.Contains(body, `"name":"projects/`+project+`/messages/`) {
		t.Fatalf("good send: %d %s", st, body)
	}
	for _, c := range []struct {
		name, access, path, body string
		status                   int
	}{
		{"project", access, "/v1/projects/other/messages:send", good, 403},
		{"path", access, "/v1/projects/" + project + "/messages", good, 404},
		{"notification", access, path, strings.Replace(good, `"data"`, `"notification":{"title":"hi"},"data"`, 1), 400},
		{"no data", access, path, strings.Replace(good, `"data":{"sealpost":"wake"},`, ``, 1), 400},
		{"priority", access, path, strings.Replace(good, "HIGH", "high", 1), 400},
		{"ttl", access, path, strings.Replace(good, `"60s"`, `"60"`, 1), 400},
		{"reserved key", access, path, strings.Replace(good, `"sealpost"`, `"google.x"`, 1), 400},
		{"not JSON", access, path, "{", 400},
	} {
		if st, body := s.send(t, c.access, c.path, c.body); st != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, st, body, c.status)
		}
	}
	if n := len(s.Rejected()); n != 16 {
		t.Errorf("%d rejections, want 16: %q", n, s.Rejected())
	}
	// Programmed answers and expired access tokens are not rejections.
	s.SetAnswer("tok1", QuotaExceeded)
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(good))
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Error struct {
			Code    int
			Status  string
			Details []struct {
				Type      string `json:"@type"`
				ErrorCode string `json:"errorCode"`
			}
		}
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != strconv.Itoa(9) || e.Error.Status != "RESOURCE_EXHAUSTED" ||
		len(e.Error.Details) != 1 || e.Error.Details[0].ErrorCode != "QUOTA_EXCEEDED" || e.Error.Details[0].Type != fcmError {
		t.Errorf("quota answer: %d %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), e)
	}
	s.ExpireAccessTokens()
	if st, _ := s.send(t, access, path, good); st != 401 {
		t.Errorf("expired access token: %d", st)
	}
	if n := len(s.Rejected()); n != 16 || len(s.Accepted()) != 1 {
		t.Errorf("%d rejections, %d accepted; want 16, 1", n, len(s.Accepted()))
	}
}
