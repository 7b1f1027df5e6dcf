package fuzz

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
)

// keyserverRequests makes a fresh value of each request type of
// spec/keyserver.md §5, for DecodeRequest.
var keyserverRequests = []func() any{
	func() any { return new(api.ChallengeRequest) },
	func() any { return new(api.RegisterRequest) },
	func() any { return new(api.AddDeviceRequest) },
	func() any { return new(api.RevokeDeviceRequest) },
	func() any { return new(api.TokenRequest) },
	func() any { return new(api.PrekeyUpload) },
}

// keyserverCodes are the codes DecodeRequest may refuse with
// (spec/keyserver.md §2.1).
var keyserverCodes = map[string]bool{
	api.CodeMalformedJSON: true,
	api.CodeUnknownField:  true,
	api.CodeBadBase64:     true,
}

// FuzzKeyserverRequests decodes arbitrary bytes as each request body of the
// key server API (keyserver.DecodeRequest). Seeds are well-formed bodies of
// every request type built from the certificates, revocations, prekeys and
// challenges of spec/vectors/keys.json and token-challenge.json, and
// broken variants of them (trailing data, unknown and repeated members,
// padded base64).
//
// Checks: no panic; the input is not modified; a refusal has a documented
// code and leaves the target value as it was; an accepted body re-encodes
// (json.Marshal) to a body that decodes again, to the same value.
func FuzzKeyserverRequests(f *testing.F) {
	keysFile, err := vectors.Load[vectors.KeysCase]("keys.json")
	if err != nil {
		f.Fatal(err)
	}
	chFile, err := vectors.Load[vectors.ChallengeCase]("token-challenge.json")
	if err != nil {
		f.Fatal(err)
	}
	var cert, rev, pre []byte
	for _, c := range keysFile.Cases {
		switch {
		case c.Certificate != nil && cert == nil:
			cert = c.Certificate.Receive.Input
		case c.Revocation != nil && rev == nil:
			rev = c.Revocation.Receive.Input
		case c.Prekey != nil && pre == nil:
			pre = c.Prekey.Receive.Input
		}
	}
	if cert == nil || rev == nil || pre == nil {
		f.Fatal("keys.json lacks a certificate, revocation or prekey case")
	}
	ch := chFile.Cases[0]
	chal, sig := api.Bytes(ch.Challenge), api.Bytes(ch.Signature)
	seeds := []any{
		api.ChallengeRequest{},
		api.ChallengeRequest{Audience: "relay:" + ch.Server},
		api.RegisterRequest{Handle: ch.Handle, AccountKey: cert[2+len(ch.Handle) : 2+len(ch.Handle)+32], Certificate: cert, Challenge: chal, ChallengeSignature: sig, Invite: "code"},
		api.AddDeviceRequest{Certificate: cert, Challenge: chal, ChallengeSignature: sig},
		api.RevokeDeviceRequest{Revocation: rev},
		api.TokenRequest{Handle: ch.Handle, Device: ch.Device, Audience: "keyserver:" + ch.Server, Challenge: chal, ChallengeSignature: sig},
		api.PrekeyUpload{SignedPrekey: pre, LastResortKEMPrekey: pre, OneTimePrekeys: []api.Bytes{pre, pre}, OneTimeKEMPrekeys: []api.Bytes{}},
	}
	for _, s := range seeds {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(append(bytes.Clone(b), "{}"...))
		f.Add(append([]byte(`{"x":1,`), b[1:]...))
		f.Add(bytes.Replace(b, []byte(`":"`), []byte(`":"=`), 1))
		f.Add(bytes.ToUpper(b))
	}
	f.Add([]byte(`{"handle":"a","handle":"b"}`))
	f.Add([]byte(`{"challenge":"AQ=="}`))
	f.Add([]byte(`{"device":1e3}`))
	f.Add([]byte(` null `))

	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		for _, mk := range keyserverRequests {
			v := mk()
			untouched := mk()
			err := keyserver.DecodeRequest(data, v)
			if !bytes.Equal(data, orig) {
				t.Fatal("DecodeRequest modified its input")
			}
			if err != nil {
				if !keyserverCodes[keyserver.ErrorCode(err)] {
					t.Fatalf("%T: refusal %v has no documented code", v, err)
				}
				if !reflect.DeepEqual(v, untouched) {
					t.Fatalf("%T: refused decode changed the value to %+v", v, v)
				}
				continue
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T: re-encoding an accepted value: %v", v, err)
			}
			w := mk()
			if err := keyserver.DecodeRequest(again, w); err != nil {
				t.Fatalf("%T: re-encoded %s refused: %v", v, again, err)
			}
			if !reflect.DeepEqual(v, w) {
				t.Fatalf("%T: decode(encode(v)) = %+v, want %+v", v, w, v)
			}
		}
	})
}
