package ksclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
)

// TestSendTokens: keys, issuance and finalization against a real key
// server; refusals come back as *APIError with their codes.
func TestSendTokens(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", func(c *keyserver.Config) { c.Limits.SendTokensPerEpoch = 8 })
	alice := s.newUser("alice")
	s.register(alice)
	tok := s.tokenFor(alice, 1)

	keys, err := s.c.SendTokenKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	epoch := sendtoken.EpochAt(s.clock.Now())
	if keys.Issuer != serverName || len(keys.Keys) != 2 || keys.Keys[0].Epoch != epoch || keys.Key(epoch+1) == nil {
		t.Fatalf("keys: %+v", keys)
	}
	ch := sendtoken.Challenge{Issuer: keys.Issuer, Epoch: epoch}
	reqs, pending, err := sendtoken.PrepareBatch(s.rand, keys.Key(epoch), ch, 5)
	if err != nil {
		t.Fatal(err)
	}
	resps, got, err := s.c.IssueSendTokens(ctx, tok, reqs)
	if err != nil || got != epoch {
		t.Fatalf("issue: epoch %d, %v", got, err)
	}
	toks, err := pending.Finalize(resps)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sendtoken.NewVerifier(keys.Issuer, keys.Keys...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range toks {
		if _, err := v.Verify(toks[i].Marshal(), s.clock.Now()); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}

	// The next epoch's key is not current yet: unknown_key.
	next, _, err := sendtoken.PrepareBatch(s.rand, keys.Key(epoch+1), sendtoken.Challenge{Issuer: keys.Issuer, Epoch: epoch + 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.c.IssueSendTokens(ctx, tok, next); !IsCode(err, api.CodeUnknownKey) {
		t.Fatalf("next epoch's key: %v", err)
	}
	// Past the limit: send_token_limit, with the time to the next epoch.
	_, _, err = s.c.IssueSendTokens(ctx, tok, reqs)
	var ae *APIError
	wantRetry := time.Duration(sendtoken.EpochStart(epoch+1)-s.clock.Now().Unix()) * time.Second
	if !IsCode(err, api.CodeSendTokenLimit) || !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || ae.RetryAfter != wantRetry {
		t.Fatalf("past the limit: %v", err)
	}
	if _, _, err := s.c.IssueSendTokens(ctx, "", reqs[:1]); !IsCode(err, api.CodeInvalidToken) {
		t.Fatalf("no token: %v", err)
	}
	if _, _, err := s.c.IssueSendTokens(ctx, tok, nil); err == nil {
		t.Fatal("an empty batch was sent")
	}
}

// TestSendTokenKeysRefused: a keys document that lies about a key id, the
// issuer or its epochs is refused.
func TestSendTokenKeysRefused(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil)
	edits := map[string]func(d *api.SendTokenKeys){
		"key id":         func(d *api.SendTokenKeys) { d.Keys[0].KeyID = d.Keys[1].KeyID },
		"issuer":         func(d *api.SendTokenKeys) { d.Issuer = "other.example" },
		"token type":     func(d *api.SendTokenKeys) { d.TokenType = 1 },
		"epoch gap":      func(d *api.SendTokenKeys) { d.Keys[1].Epoch += 1 },
		"no keys":        func(d *api.SendTokenKeys) { d.Keys = nil },
		"short key":      func(d *api.SendTokenKeys) { d.Keys[0].PublicKey = d.Keys[0].PublicKey[:345] },
		"epochs swapped": func(d *api.SendTokenKeys) { d.Keys[0], d.Keys[1] = d.Keys[1], d.Keys[0] },
	}
	for name, edit := range edits {
		s.rewrite(api.SendTokenKeysPath, func(status int, body []byte) (int, []byte) {
			var d api.SendTokenKeys
			if err := json.Unmarshal(body, &d); err != nil {
				t.Fatal(err)
			}
			edit(&d)
			b, _ := json.Marshal(d)
			return status, b
		})
		if _, err := s.c.SendTokenKeys(ctx); err == nil || !strings.Contains(err.Error(), "malformed answer") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An unknown member is refused too (strict decoding).
	s.rewrite(api.SendTokenKeysPath, func(status int, body []byte) (int, []byte) {
		return status, bytes.Replace(body, []byte(`{"issuer"`), []byte(`{"extra":1,"issuer"`), 1)
	})
	if _, err := s.c.SendTokenKeys(ctx); err == nil {
		t.Error("unknown member accepted")
	}
}

// TestIssueSendTokensBadAnswer: an issuance answer of the wrong length,
// media type or epoch header is refused.
func TestIssueSendTokensBadAnswer(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil)
	alice := s.newUser("alice")
	s.register(alice)
	tok := s.tokenFor(alice, 1)
	keys, err := s.c.SendTokenKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	epoch := keys.Keys[0].Epoch
	reqs, _, err := sendtoken.PrepareBatch(s.rand, keys.Key(epoch), sendtoken.Challenge{Issuer: keys.Issuer, Epoch: epoch}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(h http.Header, body []byte) []byte{
		"short":        func(h http.Header, b []byte) []byte { return b[:len(b)-1] },
		"long":         func(h http.Header, b []byte) []byte { return append(b, 0) },
		"count":        func(h http.Header, b []byte) []byte { b[1] = 1; return b },
		"media type":   func(h http.Header, b []byte) []byte { h.Set("Content-Type", "application/json"); return b },
		"no epoch":     func(h http.Header, b []byte) []byte { h.Del(api.HeaderSendTokenEpoch); return b },
		"epoch format": func(h http.Header, b []byte) []byte { h.Set(api.HeaderSendTokenEpoch, "+1"); return b },
	} {
		s.setForge(func(w http.ResponseWriter, r *http.Request, real http.Handler) bool {
			if r.URL.Path != api.SendTokensPath {
				return false
			}
			rec := httptest.NewRecorder()
			real.ServeHTTP(rec, r)
			h := rec.Header().Clone()
			body := edit(h, rec.Body.Bytes())
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
			return true
		})
		if _, _, err := s.c.IssueSendTokens(ctx, tok, reqs); err == nil || !strings.Contains(err.Error(), "malformed answer") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
