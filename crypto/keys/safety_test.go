package keys_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
)

func mustSafetyNumber(t *testing.T, ha string, a keys.AccountPublicKey, hb string, b keys.AccountPublicKey) *keys.SafetyNumber {
	t.Helper()
	sn, err := keys.NewSafetyNumber(ha, a, hb, b)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func TestSafetyNumberSymmetric(t *testing.T) {
	a, b := newAccount(t, "alice").Public(), newAccount(t, "bob").Public()
	ab := mustSafetyNumber(t, "alice", a, "bob", b)
	ba := mustSafetyNumber(t, "bob", b, "alice", a)
	if ab.Digits() != ba.Digits() || ab.Compact() != ba.Compact() {
		t.Fatalf("%s != %s", ab.Digits(), ba.Digits())
	}
	if err := ab.MatchCompact(ba.Compact()); err != nil {
		t.Fatal(err)
	}
	d := ab.Digits()
	if len(d) != 60 || strings.Trim(d, "0123456789") != "" {
		t.Fatalf("digits %q", d)
	}
	g := ab.Groups()
	if len(g) != 12 || strings.Join(g, "") != d {
		t.Fatalf("groups %q", g)
	}
	for _, x := range g {
		if len(x) != 5 {
			t.Fatalf("group %q", x)
		}
	}
	c := ab.Compact()
	if !strings.HasPrefix(c, "sealpost-sn1:") || len(c) != len("sealpost-sn1:")+80 {
		t.Fatalf("compact %q", c)
	}
	// The compact form carries the two fingerprints, smaller first, and the
	// digits are derived from them (spec/keys.md §10).
	raw, err := base64.RawURLEncoding.DecodeString(c[len(keys.SafetyNumberPrefix):])
	if err != nil {
		t.Fatal(err)
	}
	fa, fb := specFingerprint("alice", a[:]), specFingerprint("bob", b[:])
	if bytes.Compare(fa, fb) > 0 {
		fa, fb = fb, fa
	}
	sameBytes(t, "compact payload", raw, append(fa, fb...))
	if d != specDigits(fa)+specDigits(fb) {
		t.Fatalf("digits do not follow the fingerprints")
	}
}

// TestSafetyNumberDevices checks the safety number depends on the account
// keys only: accounts that add and replace devices keep it.
func TestSafetyNumberDevices(t *testing.T) {
	f1, f2 := newFixture(t, "alice"), newFixture(t, "bob")
	before := mustSafetyNumber(t, "alice", f1.cert.AccountKey, "bob", f2.cert.AccountKey)
	// alice certifies a second device: its certificate names the same AIK.
	c2, err := f1.account.CertifyDevice("alice", 4, newDevice(t, "alice-2").Public(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	after := mustSafetyNumber(t, "alice", c2.AccountKey, "bob", f2.aik)
	if before.Digits() != after.Digits() || after.MatchCompact(before.Compact()) != nil {
		t.Fatal("safety number changed with a new device")
	}
}

func TestSafetyNumberChanges(t *testing.T) {
	a, b, m := newAccount(t, "alice").Public(), newAccount(t, "bob").Public(), newAccount(t, "mallory").Public()
	base := mustSafetyNumber(t, "alice", a, "bob", b)
	for name, sn := range map[string]*keys.SafetyNumber{
		"bob's key":      mustSafetyNumber(t, "alice", a, "bob", m),
		"alice's key":    mustSafetyNumber(t, "alice", m, "bob", b),
		"bob's handle":   mustSafetyNumber(t, "alice", a, "bob2", b),
		"alice's handle": mustSafetyNumber(t, "alice.", a, "bob", b),
		"handles swap":   mustSafetyNumber(t, "bob", a, "alice", b),
	} {
		if sn.Digits() == base.Digits() || sn.Compact() == base.Compact() {
			t.Errorf("%s: safety number unchanged", name)
		}
		if err := base.MatchCompact(sn.Compact()); err != keys.ErrSafetyNumberMismatch {
			t.Errorf("%s: MatchCompact = %v, want ErrSafetyNumberMismatch", name, err)
		}
	}
	// One bit of one key changes the number.
	b2 := b
	b2[0] ^= 1
	if mustSafetyNumber(t, "alice", a, "bob", b2).Digits() == base.Digits() {
		t.Error("one bit of a key did not change the number")
	}
	// Talking to oneself (another device of one's own account) works.
	self := mustSafetyNumber(t, "alice", a, "alice", a)
	if self.Digits()[:30] != self.Digits()[30:] {
		t.Error("self safety number halves differ")
	}
}

func TestSafetyNumberRefusals(t *testing.T) {
	a := newAccount(t, "alice").Public()
	for _, h := range [][2]string{{"Alice", "bob"}, {"alice", "b"}, {"", ""}} {
		sn, err := keys.NewSafetyNumber(h[0], a, h[1], a)
		if sn != nil || !errors.Is(err, keys.ErrInvalidHandle) {
			t.Errorf("%q: %v %v", h, sn, err)
		}
	}
}

func TestMatchCompact(t *testing.T) {
	a, b := newAccount(t, "alice").Public(), newAccount(t, "bob").Public()
	sn := mustSafetyNumber(t, "alice", a, "bob", b)
	c := sn.Compact()
	body := c[len(keys.SafetyNumberPrefix):]
	if err := sn.MatchCompact(c); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	for i := range len(raw) * 8 {
		r := clone(raw)
		r[i/8] ^= 1 << (i % 8)
		if err := sn.MatchCompact(keys.SafetyNumberPrefix + base64.RawURLEncoding.EncodeToString(r)); err != keys.ErrSafetyNumberMismatch {
			t.Fatalf("bit %d: %v, want ErrSafetyNumberMismatch", i, err)
		}
	}
	std := base64.StdEncoding.EncodeToString(raw)
	malformed := []string{
		"", keys.SafetyNumberPrefix, body, "SEALPOST-SN1:" + body, "sealpost-sn2:" + body, " " + c, c + " ", c + "\n",
		c[:len(c)-1], c + "A", c + "==", keys.SafetyNumberPrefix + body[:40] + "\n" + body[40:79],
		keys.SafetyNumberPrefix + body[:40] + "\r\n" + body[40:78], keys.SafetyNumberPrefix + body[:79] + "=",
		keys.SafetyNumberPrefix + body[:79] + "+", keys.SafetyNumberPrefix + body[:79] + "/",
		keys.SafetyNumberPrefix + strings.Repeat("A", 79) + "*", sn.Digits(), strings.Join(sn.Groups(), " "),
	}
	if strings.ContainsAny(std, "+/") {
		malformed = append(malformed, keys.SafetyNumberPrefix+std)
	}
	for _, s := range malformed {
		err := sn.MatchCompact(s)
		if !errors.Is(err, keys.ErrMalformed) || errors.Is(err, keys.ErrSafetyNumberMismatch) {
			t.Errorf("%q: %v, want ErrMalformed", s, err)
		}
	}
}
