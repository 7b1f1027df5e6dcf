package directory

import (
	"crypto/ed25519"

	"github.com/sealpost/sealpost/keyserver/kt"
)

// VerifierKey returns the verifier key of the directory log of the key
// server named name, whose log key is pub: the signed-note verifier key
// of origin "<name>/sealpost-kt/v2" (spec/transparency-v2.md §5), as
// sealpostd prints it and a client is configured with.
func VerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	return kt.VerifierKey(name+OriginSuffix, pub)
}
