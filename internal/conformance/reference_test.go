package conformance

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/seal"
)

// The Go implementation's answers to keys.json and seal.json, from the
// exported APIs of crypto/keys and crypto/seal (client and relay answer
// their own files in their packages' TestConformance).

func TestKeysConformance(t *testing.T) { Test(t, KeysSuite(), referenceAnswer) }

func TestSealConformance(t *testing.T) { Test(t, SealSuite(), referenceAnswer) }

func referenceAnswer(req *Request) *Answer {
	switch req.File {
	case "keys.json":
		return keysAnswer(req.Case)
	case "seal.json":
		var q OpenQuestion
		if err := json.Unmarshal(req.Case, &q); err != nil {
			return Error(BadRequest)
		}
		dk, err := keys.NewDevicePrivateKeys(q.RecipientSigningSeed, q.RecipientDHPrivate)
		if err != nil {
			return Error(BadRequest)
		}
		defer dk.Zero()
		o, err := seal.Open(dk, q.Envelope)
		switch {
		case errors.Is(err, seal.ErrMalformed):
			return Error("malformed")
		case err != nil:
			return Error("decrypt")
		}
		return Result(&OpenResult{SenderCertificate: o.Sender.Marshal(), Message: o.Message})
	}
	return Unsupported()
}

func keysAnswer(c json.RawMessage) *Answer {
	typ, ok := CaseType(c)
	if !ok {
		return Error(BadRequest)
	}
	if typ == "safety-number" {
		var q SafetyNumberQuestion
		if err := json.Unmarshal(c, &q); err != nil || len(q.AccountA) != 32 || len(q.AccountB) != 32 {
			return Error(BadRequest)
		}
		sn, err := keys.NewSafetyNumber(q.HandleA, keys.AccountPublicKey(q.AccountA), q.HandleB, keys.AccountPublicKey(q.AccountB))
		if err != nil {
			return Error(keysErrorName(err))
		}
		r := &SafetyNumberResult{Digits: sn.Digits(), Compact: sn.Compact(), Scans: []string{}}
		for _, s := range q.Scanned {
			name := ""
			if err := sn.MatchCompact(s); err != nil {
				name = keysErrorName(err)
			}
			r.Scans = append(r.Scans, name)
		}
		return Result(r)
	}
	var q ReceiveQuestion
	if err := json.Unmarshal(c, &q); err != nil || len(q.VerifyKey) != 32 {
		return Error(BadRequest)
	}
	key := [32]byte(q.VerifyKey)
	var err error
	switch typ {
	case "certificate":
		var cert *keys.DeviceCertificate
		if cert, err = keys.ParseDeviceCertificate(q.Input); err == nil {
			err = cert.VerifyFor(q.VerifyHandle, keys.AccountPublicKey(key))
		}
	case "revocation":
		var rev *keys.DeviceRevocation
		if rev, err = keys.ParseDeviceRevocation(q.Input); err == nil {
			err = rev.VerifyFor(q.VerifyHandle, keys.AccountPublicKey(key))
		}
	case "prekey":
		var p *keys.Prekey
		if p, err = keys.ParsePrekey(q.Input); err == nil {
			err = p.Verify(key)
		}
	case "bundle":
		var b *keys.Bundle
		if b, err = keys.ParseBundle(q.Input); err == nil {
			err = keys.VerifyBundle(q.VerifyHandle, keys.AccountPublicKey(key), b)
		}
	default:
		return Unsupported()
	}
	if err != nil {
		return Error(keysErrorName(err))
	}
	return Result(&ReceiveResult{Valid: true})
}

// keysErrorName is the name of a crypto/keys refusal (spec/errors.md §3.2).
func keysErrorName(err error) string {
	for _, e := range []struct {
		err  error
		name string
	}{
		{keys.ErrMalformed, "malformed"},
		{keys.ErrBadSignature, "bad_signature"},
		{keys.ErrWrongAccount, "wrong_account"},
		{keys.ErrWrongKind, "wrong_kind"},
		{keys.ErrSafetyNumberMismatch, "safety_number_mismatch"},
	} {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	return "unknown: " + err.Error()
}
