package prim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"slices"
	"testing"

	"github.com/c2sp/wycheproof"

	"github.com/sealpost/sealpost/internal/vectors"
)

// The tests in this file run prim's wrappers against Project Wycheproof
// (github.com/c2sp/wycheproof, testvectors_v1). Wycheproof's schema is
// external, so decoding ignores fields these tests do not use. Each case is a
// subtest named "file #tcId comment". Every test counts the cases it ran and
// checks the total against the file's numberOfTests, and checks that each
// class of case it expects is non-empty, so a renamed field or an emptied
// file cannot make it pass silently.

type wycheproofFile[G any] struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []G    `json:"testGroups"`
}

type wycheproofCase struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"` // "valid", "acceptable" or "invalid"
}

func (c wycheproofCase) name(file string) string {
	return fmt.Sprintf("%s #%d %s", file, c.TcID, c.Comment)
}

func (c wycheproofCase) hasFlag(f string) bool { return slices.Contains(c.Flags, f) }

func loadWycheproof[G any](t *testing.T, name string) *wycheproofFile[G] {
	t.Helper()
	b, err := fs.ReadFile(wycheproof.TestVectors, name)
	if err != nil {
		t.Fatal(err)
	}
	var f wycheproofFile[G]
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(f.TestGroups) == 0 || f.NumberOfTests == 0 {
		t.Fatalf("%s: no tests", name)
	}
	return &f
}

// checkCounts fails unless the cases run add up to the file's numberOfTests
// and every class named in nonEmpty holds at least one case.
func checkCounts(t *testing.T, file string, total int, counts map[string]int, nonEmpty ...string) {
	t.Helper()
	sum := 0
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		t.Logf("%s: %-40s %d", file, k, counts[k])
		sum += counts[k]
	}
	if sum != total {
		t.Errorf("%s: classified %d cases, file has %d", file, sum, total)
	}
	for _, k := range nonEmpty {
		if counts[k] == 0 {
			t.Errorf("%s: no cases in class %q", file, k)
		}
	}
}

type x25519Group struct {
	Curve string       `json:"curve"`
	Tests []x25519Case `json:"tests"`
}

type x25519Case struct {
	wycheproofCase
	Public  vectors.Hex `json:"public"`
	Private vectors.Hex `json:"private"`
	Shared  vectors.Hex `json:"shared"`
}

var fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// x25519Expect says, independently of prim, how spec/keys.md §2.1 treats a
// public key: a non-canonical encoding (bit 255 set, or u ≥ p) is refused as
// ErrNonCanonical before anything else; a canonical key whose X25519 output
// is all zeros is of small order and refused as ErrLowOrder (the low-order
// list is checked before the multiplication, so ErrZeroSharedSecret is only
// a second line of defence). Everything else is accepted.
func x25519Expect(pub, shared []byte) error {
	be := slices.Clone(pub)
	slices.Reverse(be)
	u := new(big.Int).SetBytes(be)
	if pub[31]&0x80 != 0 || u.Cmp(fieldP) >= 0 {
		return ErrNonCanonical
	}
	if bytes.Equal(shared, make([]byte, X25519Size)) {
		return ErrLowOrder
	}
	return nil
}

func TestWycheproofX25519(t *testing.T) {
	const file = "x25519_test.json"
	f := loadWycheproof[x25519Group](t, file)
	counts := map[string]int{}
	total, zeroShared := 0, 0
	for _, g := range f.TestGroups {
		if g.Curve != "curve25519" {
			t.Fatalf("unexpected curve %q", g.Curve)
		}
		for _, tc := range g.Tests {
			total++
			want := x25519Expect(tc.Public, tc.Shared)
			isZero := bytes.Equal(tc.Shared, make([]byte, X25519Size))
			if isZero {
				zeroShared++
			}
			class := tc.Result + " accepted"
			if want != nil {
				class = tc.Result + " refused: " + want.Error()
			}
			counts[class]++
			t.Run(tc.name(file), func(t *testing.T) {
				if tc.Result == "invalid" && want == nil {
					t.Fatal("Wycheproof says invalid but the spec accepts it; classify this case")
				}
				if isZero && want == nil {
					t.Fatal("all-zero shared secret must be refused")
				}
				if errors.Is(want, ErrLowOrder) && !tc.hasFlag("LowOrderPublic") {
					t.Errorf("refused as low order but flags %v lack LowOrderPublic", tc.Flags)
				}
				if tc.hasFlag("NonCanonicalPublic") && !errors.Is(want, ErrNonCanonical) {
					t.Errorf("flag NonCanonicalPublic but the key is canonical")
				}
				priv := tc.Private
				checkErr := CheckX25519Public(tc.Public)
				out, err := DH(priv, tc.Public)
				if want != nil {
					if !errors.Is(checkErr, want) || !errors.Is(err, want) {
						t.Fatalf("CheckX25519Public = %v, DH = %v, want %v", checkErr, err, want)
					}
					if out != nil {
						t.Fatalf("DH returned output %x with an error", out)
					}
					return
				}
				if checkErr != nil || err != nil {
					t.Fatalf("CheckX25519Public = %v, DH = %v, want success", checkErr, err)
				}
				if !bytes.Equal(out, tc.Shared) {
					t.Fatalf("DH = %x, want %x", out, tc.Shared)
				}
			})
		}
	}
	if total != f.NumberOfTests {
		t.Errorf("ran %d cases, file has %d", total, f.NumberOfTests)
	}
	if zeroShared == 0 {
		t.Error("no case with an all-zero shared secret")
	}
	checkCounts(t, file, total, counts,
		"valid accepted",
		"acceptable accepted",
		"acceptable refused: "+ErrNonCanonical.Error(),
		"acceptable refused: "+ErrLowOrder.Error())
}

// TestWycheproofX25519Reference checks the reference ladder of prim_test.go
// (used to prove the low-order list) and the production ladder X25519
// against every Wycheproof case, including those whose output is all zeros.
func TestWycheproofX25519Reference(t *testing.T) {
	const file = "x25519_test.json"
	f := loadWycheproof[x25519Group](t, file)
	n := 0
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			n++
			if got := refX25519(tc.Private, tc.Public); !bytes.Equal(got, tc.Shared) {
				t.Errorf("%s: reference X25519 = %x, want %x", tc.name(file), got, tc.Shared)
			}
			// The production ladder gives the raw output too, all-zero
			// ones included (DH refuses those, TestWycheproofX25519).
			got := make([]byte, X25519Size)
			X25519(got, tc.Private, tc.Public)
			if !bytes.Equal(got, tc.Shared) {
				t.Errorf("%s: X25519 = %x, want %x", tc.name(file), got, tc.Shared)
			}
		}
	}
	if n != f.NumberOfTests {
		t.Errorf("ran %d cases, file has %d", n, f.NumberOfTests)
	}
}

type ed25519Group struct {
	PublicKey struct {
		PK vectors.Hex `json:"pk"`
	} `json:"publicKey"`
	Tests []ed25519Case `json:"tests"`
}

type ed25519Case struct {
	wycheproofCase
	Msg vectors.Hex `json:"msg"`
	Sig vectors.Hex `json:"sig"`
}

func TestWycheproofEd25519(t *testing.T) {
	const file = "ed25519_test.json"
	f := loadWycheproof[ed25519Group](t, file)
	counts := map[string]int{}
	total := 0
	for _, g := range f.TestGroups {
		pub := g.PublicKey.PK
		keyErr := CheckEd25519Public(pub)
		for _, tc := range g.Tests {
			total++
			switch {
			case tc.Result == "valid" && keyErr != nil:
				// Refused by design (spec/keys.md §2.2): list by flag.
				counts[fmt.Sprintf("valid refused %v: %v", tc.Flags, keyErr)]++
			default:
				counts[tc.Result]++
			}
			t.Run(tc.name(file), func(t *testing.T) {
				got := Verify(pub, tc.Msg, tc.Sig)
				switch tc.Result {
				case "valid":
					if keyErr != nil {
						if !errors.Is(keyErr, ErrLowOrder) && !errors.Is(keyErr, ErrNonCanonical) {
							t.Fatalf("public key %x refused for an unexpected reason: %v", pub, keyErr)
						}
						if got {
							t.Fatal("Verify accepted a refused public key")
						}
						return
					}
					if !got {
						t.Fatal("Verify refused a valid signature")
					}
				case "invalid":
					if got {
						t.Fatal("Verify accepted an invalid signature")
					}
				default:
					t.Fatalf("unexpected result %q", tc.Result)
				}
			})
		}
	}
	checkCounts(t, file, total, counts, "valid", "invalid")
	if total != f.NumberOfTests {
		t.Errorf("ran %d cases, file has %d", total, f.NumberOfTests)
	}
}

type hkdfGroup struct {
	Tests []hkdfCase `json:"tests"`
}

type hkdfCase struct {
	wycheproofCase
	IKM  vectors.Hex `json:"ikm"`
	Salt vectors.Hex `json:"salt"`
	Info vectors.Hex `json:"info"`
	Size int         `json:"size"`
	OKM  vectors.Hex `json:"okm"`
}

// hkdfMaxSize is RFC 5869's limit, 255 * HashLen; prim.HKDF panics beyond it
// (a programming error: every length Sealpost asks for is a constant).
const hkdfMaxSize = 255 * 32

func TestWycheproofHKDFSHA256(t *testing.T) {
	const file = "hkdf_sha256_test.json"
	f := loadWycheproof[hkdfGroup](t, file)
	counts := map[string]int{}
	total := 0
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			total++
			tooLarge := tc.Size > hkdfMaxSize
			if tooLarge {
				counts[tc.Result+" size too large"]++
			} else {
				counts[tc.Result]++
			}
			t.Run(tc.name(file), func(t *testing.T) {
				if tooLarge {
					if tc.Result != "invalid" || !tc.hasFlag("SizeTooLarge") {
						t.Fatalf("size %d > %d but result %q, flags %v", tc.Size, hkdfMaxSize, tc.Result, tc.Flags)
					}
					return // not called: out of range panics by design
				}
				if tc.Result != "valid" {
					t.Fatalf("result %q for an in-range size %d", tc.Result, tc.Size)
				}
				if got := HKDF(tc.Salt, tc.IKM, string(tc.Info), tc.Size); !bytes.Equal(got, tc.OKM) {
					t.Fatalf("HKDF = %x, want %x", got, tc.OKM)
				}
			})
		}
	}
	checkCounts(t, file, total, counts, "valid", "invalid size too large")
	if total != f.NumberOfTests {
		t.Errorf("ran %d cases, file has %d", total, f.NumberOfTests)
	}
}

type aeadGroup struct {
	IVSize  int        `json:"ivSize"`
	KeySize int        `json:"keySize"`
	TagSize int        `json:"tagSize"`
	Tests   []aeadCase `json:"tests"`
}

type aeadCase struct {
	wycheproofCase
	Key vectors.Hex `json:"key"`
	IV  vectors.Hex `json:"iv"`
	AAD vectors.Hex `json:"aad"`
	Msg vectors.Hex `json:"msg"`
	CT  vectors.Hex `json:"ct"`
	Tag vectors.Hex `json:"tag"`
}

func TestWycheproofChaCha20Poly1305(t *testing.T) {
	const file = "chacha20_poly1305_test.json"
	f := loadWycheproof[aeadGroup](t, file)
	counts := map[string]int{}
	total := 0
	for _, g := range f.TestGroups {
		sizesOK := g.IVSize == 8*AEADNonceSize && g.KeySize == 8*AEADKeySize && g.TagSize == 8*AEADTagSize
		for _, tc := range g.Tests {
			total++
			if sizesOK {
				counts[tc.Result]++
			} else {
				counts[tc.Result+" wrong sizes"]++
			}
			t.Run(tc.name(file), func(t *testing.T) {
				sealed := slices.Concat(tc.CT, tc.Tag)
				if !sizesOK || len(tc.IV) != AEADNonceSize || len(tc.Key) != AEADKeySize {
					if tc.Result != "invalid" || !tc.hasFlag("InvalidNonceSize") {
						t.Fatalf("ivSize %d, keySize %d but result %q, flags %v", g.IVSize, g.KeySize, tc.Result, tc.Flags)
					}
					// AEADSeal panics on these sizes by design (internal
					// callers pass constants); AEADOpen must refuse them.
					checkOpenRefuses(t, tc.Key, tc.IV, sealed, tc.AAD)
					return
				}
				switch tc.Result {
				case "valid":
					if got := AEADSeal(nil, tc.Key, tc.IV, tc.Msg, tc.AAD); !bytes.Equal(got, sealed) {
						t.Fatalf("AEADSeal = %x, want %x", got, sealed)
					}
					got, err := AEADOpen(nil, tc.Key, tc.IV, sealed, tc.AAD)
					if err != nil || !bytes.Equal(got, tc.Msg) {
						t.Fatalf("AEADOpen = %x, %v, want %x", got, err, tc.Msg)
					}
				case "invalid":
					checkOpenRefuses(t, tc.Key, tc.IV, sealed, tc.AAD)
				default:
					t.Fatalf("unexpected result %q", tc.Result)
				}
			})
		}
	}
	checkCounts(t, file, total, counts, "valid", "invalid", "invalid wrong sizes")
	if counts["valid wrong sizes"] != 0 {
		t.Error("valid cases with sizes prim does not support")
	}
	if total != f.NumberOfTests {
		t.Errorf("ran %d cases, file has %d", total, f.NumberOfTests)
	}
}

// checkOpenRefuses checks that AEADOpen returns ErrDecrypt and no plaintext,
// without panicking, and leaves its inputs and dst untouched.
func checkOpenRefuses(t *testing.T, key, nonce, sealed, ad []byte) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("AEADOpen panicked: %v", r)
		}
	}()
	before := slices.Concat(key, nonce, sealed, ad)
	dst := []byte("prefix")
	got, err := AEADOpen(dst, key, nonce, sealed, ad)
	if !errors.Is(err, ErrDecrypt) || got != nil {
		t.Fatalf("AEADOpen = %x, %v, want nil, ErrDecrypt", got, err)
	}
	if string(dst) != "prefix" || !bytes.Equal(slices.Concat(key, nonce, sealed, ad), before) {
		t.Fatal("AEADOpen changed its inputs on failure")
	}
}
