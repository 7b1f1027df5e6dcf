package keyserver_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver"
)

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := keyserver.New(keyserver.Config{
		Name:           "has space",
		TokenKey:       make(ed25519.PrivateKey, 3),
		RelayAudiences: []string{"relay: x", "keyserver:has space"},
		Limits:         keyserver.Limits{TokenLifetime: 48 * time.Hour, MaxBodyBytes: 10},
	})
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"Name", "Store is nil", "TokenKey length 3", "LogKey length 0", `relay audience "relay: x"`, "TokenLifetime", "MaxBodyBytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

// TestLogKeyNotTokenKey: the log key signs unlabelled C2SP notes
// (spec/keys.md §2.3), so it must not double as the token key.
func TestLogKeyNotTokenKey(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	_, err := keyserver.New(keyserver.Config{Name: "example", TokenKey: key, LogKey: key})
	if err == nil || !strings.Contains(err.Error(), "LogKey is the TokenKey") {
		t.Fatalf("New with one key for both: %v", err)
	}
}

func TestDefaultLimits(t *testing.T) {
	l := keyserver.DefaultLimits()
	if l.MaxBodyBytes <= 0 || l.MaxOneTimePerUpload <= 0 || l.MaxOneTimePerUpload > l.MaxOneTimePerDevice || l.TokenLifetime <= 0 || l.ClaimsPerMinute <= 0 || l.RequestsPerSecond <= 0 || l.MaxLeaves <= 0 {
		t.Fatalf("default limits %+v", l)
	}
}
