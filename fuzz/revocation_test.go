package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// FuzzDeviceRevocation parses arbitrary bytes as a device revocation
// (spec/keys.md §7) and verifies what parses against the handle and account
// key of the first revocation vector. Seeds are every revocation of
// spec/vectors/keys.json, valid and refused.
//
// Checks: no panic; parsing refuses with ErrMalformed only and leaves its
// input alone; an accepted revocation re-encodes to the same bytes;
// VerifyFor refuses with ErrBadSignature or ErrWrongAccount only and changes
// nothing.
func FuzzDeviceRevocation(f *testing.F) {
	var first *vectors.KeysRevocationCase
	for _, c := range keysVectors(f) {
		if c.Revocation == nil {
			continue
		}
		if first == nil {
			first = c.Revocation
		}
		f.Add(bytes.Clone(c.Revocation.Receive.Input))
	}
	if first == nil {
		f.Fatal("no revocation vectors")
	}
	aik := keys.AccountPublicKey(first.Account.Public)

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		r, err := keys.ParseDeviceRevocation(data)
		if !bytes.Equal(in, data) {
			t.Fatal("ParseDeviceRevocation modified its input")
		}
		if err != nil {
			if !errors.Is(err, keys.ErrMalformed) {
				t.Fatalf("parse error of unknown kind: %v", err)
			}
			return
		}
		if !bytes.Equal(r.Marshal(), data) {
			t.Fatal("accepted revocation does not re-encode to the same bytes")
		}
		err = r.VerifyFor(first.Handle, aik)
		if err != nil && !errors.Is(err, keys.ErrBadSignature) && !errors.Is(err, keys.ErrWrongAccount) {
			t.Fatalf("VerifyFor error of unknown kind: %v", err)
		}
		if !bytes.Equal(r.Marshal(), data) {
			t.Fatal("VerifyFor changed the revocation")
		}
	})
}
