package sendtoken

import (
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrand"
)

const (
	testIssuer = "keys.example.org"
	testEpoch  = 20426 // 2025-12-04
)

var (
	keysOnce sync.Once
	keyA     *PrivateKey
	keyB     *PrivateKey
	keysErr  error
)

// testKeys returns two issuer keys, made once per test binary.
func testKeys(t testing.TB) (*PrivateKey, *PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		keyA, keysErr = GenerateKey(rand.Reader)
		if keysErr == nil {
			keyB, keysErr = GenerateKey(rand.Reader)
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keyA, keyB
}

// issue runs the whole protocol: n tokens of challenge ch under k.
func issue(t testing.TB, k *PrivateKey, ch Challenge, n int, label string) []Token {
	t.Helper()
	reqs, p, err := PrepareBatch(testrand.New(label), k.Public(), ch, n)
	if err != nil {
		t.Fatal(err)
	}
	resps, err := k.Issue(reqs)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := p.Finalize(resps)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// at returns second s of epoch e.
func at(e uint64, s int64) time.Time { return time.Unix(EpochStart(e)+s, 0) }

// kinds are the sentinels; wantKind checks err is exactly want among them.
var kinds = []error{ErrMalformed, ErrUnknownKey, ErrBadSignature, ErrWrongEpoch, ErrWrongChallenge, ErrDoubleSpend}

func wantKind(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %v", want)
	}
	for _, k := range kinds {
		if errors.Is(err, k) != (k == want) {
			t.Fatalf("error %q: errors.Is(%v) = %v", err, k, !(k == want))
		}
	}
}
