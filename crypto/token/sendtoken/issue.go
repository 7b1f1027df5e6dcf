package sendtoken

import (
	"encoding/binary"
	"fmt"
	"math/big"
)

// Request is a TokenRequest (spec/anonymous.md §5.1, RFC 9578 §6.1).
type Request struct {
	// TruncatedKeyID is the last byte of the issuer key id the client used.
	TruncatedKeyID byte
	// BlindedMsg is the blinded message, I2OSP(z, 256) (RFC 9474 §4.2).
	BlindedMsg [ModulusSize]byte
}

// Response is a TokenResponse: the blind signature, I2OSP(s, 256)
// (spec/anonymous.md §5.2, RFC 9578 §6.2).
type Response [ResponseSize]byte

// ItemError says which item of a batch was refused. Err is one of the
// package's sentinels; errors.Is sees through an ItemError.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string { return fmt.Sprintf("sendtoken: item %d: %v", e.Index, e.Err) }
func (e *ItemError) Unwrap() error { return e.Err }

// ParseRequest decodes exactly RequestSize bytes with token type 0x0002.
func ParseRequest(b []byte) (Request, error) {
	var r Request
	if len(b) != RequestSize {
		return r, fmt.Errorf("%w: request of %d bytes, want %d", ErrMalformed, len(b), RequestSize)
	}
	if binary.BigEndian.Uint16(b) != TokenType {
		return r, fmt.Errorf("%w: request token type %#04x", ErrMalformed, binary.BigEndian.Uint16(b))
	}
	r.TruncatedKeyID = b[2]
	copy(r.BlindedMsg[:], b[3:])
	return r, nil
}

// Marshal returns the RequestSize bytes of r.
func (r *Request) Marshal() []byte {
	b := make([]byte, 0, RequestSize)
	b = binary.BigEndian.AppendUint16(b, TokenType)
	b = append(b, r.TruncatedKeyID)
	return append(b, r.BlindedMsg[:]...)
}

// MarshalBatchRequest frames requests as spec/anonymous.md §5.3:
// uint16 count || count requests. It refuses 0 or more than 65535 items.
func MarshalBatchRequest(reqs []Request) ([]byte, error) {
	if len(reqs) == 0 || len(reqs) > 0xffff {
		return nil, fmt.Errorf("%w: batch of %d requests", ErrMalformed, len(reqs))
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reqs)*RequestSize), uint16(len(reqs)))
	for i := range reqs {
		b = append(b, reqs[i].Marshal()...)
	}
	return b, nil
}

// ParseBatchRequest decodes a batch of 1 to max requests (§5.3); max
// outside 1..65535 means MaxBatchSize. Nothing else is accepted: a count
// of 0 or above max, a length that is not exactly 2 + count·259, or any
// malformed request is ErrMalformed (an ItemError for a request).
func ParseBatchRequest(b []byte, max int) ([]Request, error) {
	if max < 1 || max > 0xffff {
		max = MaxBatchSize
	}
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: batch shorter than its count", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 || n > max {
		return nil, fmt.Errorf("%w: batch of %d requests, limit %d", ErrMalformed, n, max)
	}
	if len(b) != 2+n*RequestSize {
		return nil, fmt.Errorf("%w: batch of %d requests is %d bytes", ErrMalformed, n, len(b))
	}
	reqs := make([]Request, n)
	for i := range reqs {
		r, err := ParseRequest(b[2+i*RequestSize : 2+(i+1)*RequestSize])
		if err != nil {
			return nil, &ItemError{i, err}
		}
		reqs[i] = r
	}
	return reqs, nil
}

// MarshalBatchResponse frames responses as §5.3: uint16 count || count
// responses, in the order of the requests.
func MarshalBatchResponse(resps []Response) ([]byte, error) {
	if len(resps) == 0 || len(resps) > 0xffff {
		return nil, fmt.Errorf("%w: batch of %d responses", ErrMalformed, len(resps))
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(resps)*ResponseSize), uint16(len(resps)))
	for i := range resps {
		b = append(b, resps[i][:]...)
	}
	return b, nil
}

// ParseBatchResponse decodes a batch of exactly n responses (§5.3), n the
// number of requests sent; anything else is ErrMalformed.
func ParseBatchResponse(b []byte, n int) ([]Response, error) {
	if n < 1 || n > 0xffff || len(b) < 2 || int(binary.BigEndian.Uint16(b)) != n {
		return nil, fmt.Errorf("%w: batch response count, want %d", ErrMalformed, n)
	}
	if len(b) != 2+n*ResponseSize {
		return nil, fmt.Errorf("%w: batch of %d responses is %d bytes", ErrMalformed, n, len(b))
	}
	resps := make([]Response, n)
	for i := range resps {
		copy(resps[i][:], b[2+i*ResponseSize:])
	}
	return resps, nil
}

// Issue blind-signs a batch of requests (spec/anonymous.md §5.2,
// RFC 9474 §4.3 BlindSign). It checks every request before signing any,
// so a refused batch signs nothing: a request naming another key is
// ErrUnknownKey, a blinded message not below the modulus ErrMalformed,
// each in an ItemError naming the request. An empty batch or one above
// MaxBatchSize is ErrMalformed; the key server's rate limit is its own.
//
// The issuer learns nothing from a request but that a client wants a
// token under this key (§8).
func (k *PrivateKey) Issue(reqs []Request) ([]Response, error) {
	if len(reqs) == 0 || len(reqs) > MaxBatchSize {
		return nil, fmt.Errorf("%w: batch of %d requests", ErrMalformed, len(reqs))
	}
	truncated := k.pub.id[KeyIDSize-1]
	for i := range reqs {
		if reqs[i].TruncatedKeyID != truncated {
			return nil, &ItemError{i, ErrUnknownKey}
		}
		if new(big.Int).SetBytes(reqs[i].BlindedMsg[:]).Cmp(k.sk.N) >= 0 {
			return nil, &ItemError{i, fmt.Errorf("%w: blinded message not below the modulus", ErrMalformed)}
		}
	}
	resps := make([]Response, len(reqs))
	for i := range reqs {
		s, err := k.signer.BlindSign(reqs[i].BlindedMsg[:])
		if err != nil || len(s) != ResponseSize {
			// Only a fault in the RSA computation (circl's CRT check) gets
			// here: an internal error, not the client's.
			return nil, fmt.Errorf("sendtoken: item %d: blind sign failed: %v", i, err)
		}
		copy(resps[i][:], s)
	}
	return resps, nil
}
