package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
)

func TestNewAPNsReportsEveryProblem(t *testing.T) {
	_, err := NewAPNs(APNsConfig{Key: []byte("nope"), KeyID: "abc", TeamID: "", Topic: "a/b", PushType: "voip", URL: "http://x", Expiry: 1})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"APNs key:", "key id", "team id", "topic", "push type", "APNs URL", "expiry"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	// An RSA or P-384 key is not an APNs key.
	for _, k := range []any{mustRSA(t), mustEC(t, elliptic.P384())} {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		if _, err := ParseAPNsKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err == nil {
			t.Errorf("%T accepted as an APNs key", k)
		}
	}
	der, _ := x509.MarshalPKCS8PrivateKey(mustEC(t, elliptic.P256()))
	p8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if _, err := NewAPNs(APNsConfig{Key: p8, KeyID: testKeyID, TeamID: testTeam, Topic: testTopic}); err != nil {
		t.Errorf("good config: %v", err)
	}
}

func TestNewFCMReportsEveryProblem(t *testing.T) {
	sa := map[string]string{"type": "user", "project_id": "a/b", "private_key": "x", "token_uri": "http://oauth2.example/token"}
	b, _ := json.Marshal(sa)
	_, err := NewFCM(FCMConfig{Credentials: b, URL: "https://fcm.example/v1", TTL: 1})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"type", "project_id", "private_key_id", "client_email", "token_uri", "private_key:", "FCM URL", "TTL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if _, err := NewFCM(FCMConfig{Credentials: []byte("{")}); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Config{RelayBurst: -1})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"relay keys", "neither APNs nor FCM", "rate and burst"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustEC(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
