package vrf

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"filippo.io/edwards25519"
)

// rfcVector is one example of testdata/rfc9381-b3.json (RFC 9381 Appendix
// B.3, ECVRF-EDWARDS25519-SHA512-TAI).
type rfcVector struct {
	Example int    `json:"example"`
	SK      string `json:"sk"`
	PK      string `json:"pk"`
	Alpha   string `json:"alpha"`
	X       string `json:"x"`
	Ctr     int    `json:"ctr"`
	H       string `json:"h"`
	K       string `json:"k"`
	U       string `json:"u"`
	V       string `json:"v"`
	Pi      string `json:"pi"`
	Beta    string `json:"beta"`
}

func loadRFCVectors(t *testing.T) []rfcVector {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc9381-b3.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Source  string      `json:"source"`
		Note    string      `json:"note"`
		Vectors []rfcVector `json:"vectors"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) != 3 {
		t.Fatalf("%d RFC 9381 B.3 vectors, want 3 (Examples 16–18)", len(f.Vectors))
	}
	return f.Vectors
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC9381Vectors checks every ECVRF-EDWARDS25519-SHA512-TAI example of
// RFC 9381 Appendix B.3: the public key, every intermediate value (x, the
// encode_to_curve counter and H, the nonce k, U, V), the proof and the
// output, and that Verify and ProofToHash accept the proof with that output.
func TestRFC9381Vectors(t *testing.T) {
	for _, v := range loadRFCVectors(t) {
		sk, err := NewPrivateKey(unhex(t, v.SK))
		if err != nil {
			t.Fatalf("example %d: %v", v.Example, err)
		}
		alpha := unhex(t, v.Alpha)
		if got := hex.EncodeToString(sk.Public().Bytes()); got != v.PK {
			t.Errorf("example %d: PK %s, want %s", v.Example, got, v.PK)
		}
		// The RFC prints x as the clamped 32 bytes (RFC 8032 §5.1.5), before
		// any reduction mod L; the key holds x mod L.
		hsk := sha512.Sum512(unhex(t, v.SK))
		hsk[0] &= 248
		hsk[31] &= 127
		hsk[31] |= 64
		if got := hex.EncodeToString(hsk[:32]); got != v.X {
			t.Errorf("example %d: x %s, want %s", v.Example, got, v.X)
		}
		var wide [64]byte
		copy(wide[:], unhex(t, v.X))
		xr, _ := edwards25519.NewScalar().SetUniformBytes(wide[:])
		if sk.x.Equal(xr) != 1 {
			t.Errorf("example %d: key scalar is not x mod L", v.Example)
		}

		var H edwards25519.Point
		ctr, err := encodeToCurve(&H, unhex(t, v.PK), alpha)
		if err != nil || ctr != v.Ctr || hex.EncodeToString(H.Bytes()) != v.H {
			t.Errorf("example %d: encode_to_curve = ctr %d, H %x, %v; want ctr %d, H %s", v.Example, ctr, H.Bytes(), err, v.Ctr, v.H)
		}
		kh := sha512.New()
		kh.Write(sk.prefix[:])
		kh.Write(H.Bytes())
		kString := kh.Sum(nil)
		if got := hex.EncodeToString(kString); got != v.K {
			t.Errorf("example %d: k %s, want %s", v.Example, got, v.K)
		}
		k, _ := edwards25519.NewScalar().SetUniformBytes(kString)
		if got := hex.EncodeToString(new(edwards25519.Point).ScalarBaseMult(k).Bytes()); got != v.U {
			t.Errorf("example %d: U %s, want %s", v.Example, got, v.U)
		}
		if got := hex.EncodeToString(new(edwards25519.Point).ScalarMult(k, &H).Bytes()); got != v.V {
			t.Errorf("example %d: V %s, want %s", v.Example, got, v.V)
		}

		beta, pi, err := sk.Prove(alpha)
		if err != nil {
			t.Fatalf("example %d: Prove: %v", v.Example, err)
		}
		if got := hex.EncodeToString(pi); got != v.Pi {
			t.Errorf("example %d: pi %s, want %s", v.Example, got, v.Pi)
		}
		if got := hex.EncodeToString(beta[:]); got != v.Beta {
			t.Errorf("example %d: beta %s, want %s", v.Example, got, v.Beta)
		}

		pk, err := ParsePublicKey(unhex(t, v.PK))
		if err != nil {
			t.Fatalf("example %d: ParsePublicKey: %v", v.Example, err)
		}
		vbeta, err := pk.Verify(alpha, unhex(t, v.Pi))
		if err != nil || hex.EncodeToString(vbeta[:]) != v.Beta {
			t.Errorf("example %d: Verify = %x, %v; want %s", v.Example, vbeta, err, v.Beta)
		}
		hbeta, err := ProofToHash(unhex(t, v.Pi))
		if err != nil || hex.EncodeToString(hbeta[:]) != v.Beta {
			t.Errorf("example %d: ProofToHash = %x, %v; want %s", v.Example, hbeta, err, v.Beta)
		}
	}
}
