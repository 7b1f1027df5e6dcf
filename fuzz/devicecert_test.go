package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// FuzzDeviceCertificate parses arbitrary bytes as a device certificate
// (spec/keys.md §6) and verifies what parses, on its own and against the
// handle and account key of the first certificate vector. Seeds are every
// certificate of spec/vectors/keys.json, valid and refused.
//
// Checks: no panic; parsing refuses with ErrMalformed only and leaves its
// input alone; an accepted certificate re-encodes to the same bytes and
// carries a valid handle and device id; Verify refuses with ErrBadSignature
// only and VerifyFor adds ErrWrongAccount; neither changes the certificate.
func FuzzDeviceCertificate(f *testing.F) {
	var first *vectors.KeysCertificateCase
	for _, c := range keysVectors(f) {
		if c.Certificate == nil {
			continue
		}
		if first == nil {
			first = c.Certificate
		}
		f.Add(bytes.Clone(c.Certificate.Receive.Input))
	}
	if first == nil {
		f.Fatal("no certificate vectors")
	}
	aik := keys.AccountPublicKey(first.Account.Public)

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		c, err := keys.ParseDeviceCertificate(data)
		if !bytes.Equal(in, data) {
			t.Fatal("ParseDeviceCertificate modified its input")
		}
		if err != nil {
			if !errors.Is(err, keys.ErrMalformed) {
				t.Fatalf("parse error of unknown kind: %v", err)
			}
			return
		}
		if !bytes.Equal(c.Marshal(), data) {
			t.Fatal("accepted certificate does not re-encode to the same bytes")
		}
		if keys.CheckHandle(c.Handle) != nil || c.Device == 0 || len(data) > keys.MaxCertificateSize {
			t.Fatalf("accepted certificate with invalid fields: %+v", c)
		}
		if err := c.Verify(); err != nil && !errors.Is(err, keys.ErrBadSignature) {
			t.Fatalf("Verify error of unknown kind: %v", err)
		}
		err = c.VerifyFor(first.Handle, aik)
		if err != nil && !errors.Is(err, keys.ErrBadSignature) && !errors.Is(err, keys.ErrWrongAccount) {
			t.Fatalf("VerifyFor error of unknown kind: %v", err)
		}
		if !bytes.Equal(c.Marshal(), data) {
			t.Fatal("verification changed the certificate")
		}
	})
}
