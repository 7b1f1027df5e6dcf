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

func TestDefaultLimits(t *testing.T) {
	l := keyserver.DefaultLimits()
	if l.MaxBodyBytes <= 0 || l.MaxOneTimePerUpload <= 0 || l.MaxOneTimePerUpload > l.MaxOneTimePerDevice || l.TokenLifetime <= 0 || l.ClaimsPerMinute <= 0 || l.RequestsPerSecond <= 0 || l.MaxLeaves <= 0 {
		t.Fatalf("default limits %+v", l)
	}
}
