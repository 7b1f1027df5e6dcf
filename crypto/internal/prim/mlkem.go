package prim

import (
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/rand"
	"io"
)

// Encapsulate768 runs ML-KEM-768 encapsulation (FIPS 203 Algorithm 20)
// with 32 bytes of randomness m from rnd (spec/pqxdh.md §3.1 step 3,
// spec/seal.md §10.5 step 3). With crypto/rand.Reader, crypto/mlkem draws
// m itself; from any other source the derandomized
// ML-KEM.Encaps_internal(ek, m) (FIPS 203 Algorithm 17) makes the result
// reproducible for the vectors.
func Encapsulate768(rnd io.Reader, ek *mlkem.EncapsulationKey768) (sharedKey, ciphertext []byte, err error) {
	if rnd == rand.Reader {
		sharedKey, ciphertext = ek.Encapsulate()
		return sharedKey, ciphertext, nil
	}
	var m [32]byte
	defer Zero(m[:])
	if _, err := io.ReadFull(rnd, m[:]); err != nil {
		return nil, nil, err
	}
	return mlkemtest.Encapsulate768(ek, m[:])
}
