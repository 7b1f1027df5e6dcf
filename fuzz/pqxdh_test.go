package fuzz

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/pqxdh"
	"github.com/sealpost/sealpost/internal/vectors"
)

// FuzzPQXDHInitial parses arbitrary bytes as a PQXDH initial message
// (spec/pqxdh.md §4). An accepted message must re-encode to the same bytes,
// and the responder of the first vector must answer it without panicking:
// either a refusal of a documented kind or a shared secret.
func FuzzPQXDHInitial(f *testing.F) {
	file, err := vectors.Load[vectors.PQXDHCase]("pqxdh.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range file.Cases {
		f.Add(bytes.Clone(v.InitialMessage))
		for _, r := range v.Refusals {
			f.Add(bytes.Clone(r.InitialMessage))
		}
	}
	v := file.Cases[0]
	self, selfCert := fuzzDevice(f, v.Responder)
	_, peerCert := fuzzDevice(f, v.Initiator)
	pk := pqxdh.Prekeys{
		Signed: fuzzPrekey(f, v.Signed),
		KEM:    fuzzPrekey(f, v.KEM),
	}
	if v.OneTime != nil {
		pk.OneTime = fuzzPrekey(f, *v.OneTime)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := pqxdh.ParseInitialMessage(data)
		if err != nil {
			if !errors.Is(err, pqxdh.ErrMalformed) {
				t.Fatalf("parse error of unknown kind: %v", err)
			}
			return
		}
		if !bytes.Equal(m.Marshal(), data) {
			t.Fatal("accepted message does not re-encode to the same bytes")
		}
		s, err := pqxdh.Respond(self, selfCert, peerCert, m, pk)
		switch {
		case err == nil:
			if len(s.AD) != pqxdh.ADSize {
				t.Fatal("AD of wrong size")
			}
		case errors.Is(err, pqxdh.ErrIdentityMismatch), errors.Is(err, pqxdh.ErrPrekeyMismatch),
			errors.Is(err, pqxdh.ErrAgreement):
		default:
			t.Fatalf("respond error of unknown kind: %v", err)
		}
	})
}

func fuzzDevice(f *testing.F, d vectors.PQXDHDevice) (*keys.DevicePrivateKeys, *keys.DeviceCertificate) {
	account, err := keys.NewAccountPrivateKey(d.AccountSeed)
	if err != nil {
		f.Fatal(err)
	}
	dev, err := keys.NewDevicePrivateKeys(d.DeviceSigningSeed, d.DeviceDHPrivate)
	if err != nil {
		f.Fatal(err)
	}
	cert, err := account.CertifyDevice(d.Handle, keys.DeviceID(d.DeviceID), dev.Public(), time.Unix(d.Created, 0))
	if err != nil {
		f.Fatal(err)
	}
	return dev, cert
}

func fuzzPrekey(f *testing.F, p vectors.PQXDHPrekey) *keys.PrekeyPrivate {
	k, err := keys.LoadPrekeyPrivate(keys.PrekeyKind(p.Kind), p.ID, p.Secret)
	if err != nil {
		f.Fatal(err)
	}
	return k
}
