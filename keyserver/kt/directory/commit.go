package directory

import (
	"crypto/sha256"
	"strings"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

// Commit returns the commitment to a key-set entry (spec/transparency-v2.md
// §6.1):
//
//	SHA-256("sealpost/v2/kt-commit" || opening (32) || entry)
//
// where entry is the encoding kt.Entry.Marshal writes. It is the
// commitment of the map value of the entry's handle.
func Commit(opening *[OpeningSize]byte, entry []byte) vmap.Hash {
	h := sha256.New()
	h.Write([]byte(LabelCommit))
	h.Write(opening[:])
	h.Write(entry)
	return vmap.Hash(h.Sum(nil))
}

// NewVerifier returns the checkpoint verifier of a version 2 log
// (spec/transparency-v2.md §5.2, §9): kt.NewVerifier, and the log's origin
// must be a non-empty name followed by OriginSuffix, else ErrOrigin. A
// verifier key kt refuses is ErrMalformed.
func NewVerifier(verifierKey string) (*kt.Verifier, error) {
	v, err := kt.NewVerifier(verifierKey)
	if err != nil {
		return nil, wrap(ErrMalformed, "verifier key", err)
	}
	if err := checkOrigin(v.Origin()); err != nil {
		return nil, err
	}
	return v, nil
}

// checkOrigin refuses an origin that is not a version 2 log's
// (spec/transparency-v2.md §5.2).
func checkOrigin(origin string) error {
	if !strings.HasSuffix(origin, OriginSuffix) || len(origin) == len(OriginSuffix) {
		return fail(ErrOrigin, "origin %q does not end in %q after a name", origin, OriginSuffix)
	}
	return nil
}

// checkCheckpoint refuses a missing checkpoint or one of another log.
func checkCheckpoint(cp *kt.Checkpoint) error {
	if cp == nil {
		return fail(ErrMalformed, "no checkpoint")
	}
	return checkOrigin(cp.Origin)
}
