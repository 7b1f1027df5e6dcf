package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// keysVectors loads spec/vectors/keys.json for the crypto/keys targets.
func keysVectors(f *testing.F) []vectors.KeysCase {
	file, err := vectors.Load[vectors.KeysCase]("keys.json")
	if err != nil {
		f.Fatal(err)
	}
	return file.Cases
}

// isKeysError reports whether err is one of the kinds crypto/keys documents
// for a refused encoding or signature.
func isKeysError(err error) bool {
	return errors.Is(err, keys.ErrMalformed) || errors.Is(err, keys.ErrBadSignature) ||
		errors.Is(err, keys.ErrWrongAccount) || errors.Is(err, keys.ErrWrongKind)
}

// bundleParts are the BundleError parts of spec/keys.md §9.2.
var bundleParts = map[string]bool{
	"version": true, "certificate": true, "signed prekey": true, "one-time prekey": true, "KEM prekey": true,
}

// FuzzBundle parses arbitrary bytes as a prekey bundle (spec/keys.md §9) and
// verifies what parses against the handle and account key of the first
// bundle vector. Seeds are every bundle of spec/vectors/keys.json, valid and
// refused.
//
// Checks: no panic; a refusal at either step is a *BundleError naming a
// part of §9.2 and wrapping a documented kind; parsing refuses with
// ErrMalformed or ErrWrongKind only; an accepted bundle re-encodes to the
// same bytes, and VerifyBundle leaves it unchanged. A bundle that verifies
// carries a certificate from the vectors, since no one else can sign one.
func FuzzBundle(f *testing.F) {
	var first *vectors.KeysBundleCase
	signed := map[string]bool{} // every certificate the vectors' accounts issued
	for _, c := range keysVectors(f) {
		if c.Certificate != nil {
			signed[string(c.Certificate.Certificate)] = true
		}
		if c.Bundle == nil {
			continue
		}
		signed[string(c.Bundle.Certificate)] = true
		if first == nil {
			first = c.Bundle
		}
		f.Add(bytes.Clone(c.Bundle.Bundle))
		f.Add(bytes.Clone(c.Bundle.Receive.Input))
	}
	if first == nil {
		f.Fatal("no bundle vectors")
	}
	aik := keys.AccountPublicKey(first.Account.Public)

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		b, err := keys.ParseBundle(data)
		if !bytes.Equal(in, data) {
			t.Fatal("ParseBundle modified its input")
		}
		if err != nil {
			checkBundleError(t, err)
			if !errors.Is(err, keys.ErrMalformed) && !errors.Is(err, keys.ErrWrongKind) {
				t.Fatalf("parse error of unknown kind: %v", err)
			}
			return
		}
		if !bytes.Equal(b.Marshal(), data) {
			t.Fatal("accepted bundle does not re-encode to the same bytes")
		}
		err = keys.VerifyBundle(first.Handle, aik, b)
		if !bytes.Equal(b.Marshal(), data) {
			t.Fatal("VerifyBundle changed the bundle")
		}
		if err != nil {
			checkBundleError(t, err)
			return
		}
		if !signed[string(b.Certificate.Marshal())] {
			t.Fatal("a bundle verified with a certificate the account never signed")
		}
	})
}

func checkBundleError(t *testing.T, err error) {
	t.Helper()
	var be *keys.BundleError
	if !errors.As(err, &be) || !bundleParts[be.Part] || !isKeysError(err) {
		t.Fatalf("error is not a documented BundleError: %v", err)
	}
}
