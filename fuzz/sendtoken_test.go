package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/internal/vectors"
)

// isSendTokenError reports whether err is exactly one of the kinds of
// spec/anonymous.md §7 (spec/errors.md §3.18).
func isSendTokenError(err error) bool {
	n := 0
	for _, k := range []error{sendtoken.ErrMalformed, sendtoken.ErrUnknownKey, sendtoken.ErrBadSignature, sendtoken.ErrWrongEpoch, sendtoken.ErrWrongChallenge, sendtoken.ErrDoubleSpend} {
		if errors.Is(err, k) {
			n++
		}
	}
	return n == 1
}

// FuzzSendToken reads arbitrary bytes as each structure of
// spec/anonymous.md: a token (parsed, then verified by the verifier and at
// the time of the first "ok" verify case of spec/vectors/sendtoken.json,
// which holds two epochs' keys), an issuer public key, a challenge, a batch
// of requests (issued by the key of the first issue case when it holds at
// most two requests) and a batch of responses. Seeds are every byte string
// of the vector file: tokens, keys, challenges, batches, valid and refused.
//
// Checks: no panic; the input is not modified; every refusal is of exactly
// one documented kind and returns nothing; whatever parses re-encodes to the
// same bytes (parse(marshal(x)) == x); a verified token is one of the
// vectors' tokens (no one else holds their keys) and is spent under its own
// nonce; an issued batch answers every request.
func FuzzSendToken(f *testing.F) {
	file, err := vectors.Load[vectors.SendTokenCase]("sendtoken.json")
	if err != nil {
		f.Fatal(err)
	}
	var (
		vcase  *vectors.SendTokenVerifyCase
		icase  *vectors.SendTokenIssueCase
		issued = map[string]bool{}
	)
	for _, c := range file.Cases {
		switch {
		case c.Verify != nil:
			if c.Verify.Result == "ok" && (vcase == nil || len(c.Verify.Keys) > len(vcase.Keys)) {
				vcase = c.Verify
			}
			f.Add(bytes.Clone(c.Verify.Token))
		case c.Issue != nil:
			if c.Issue.Result == "ok" && icase == nil {
				icase = c.Issue
			}
			f.Add(bytes.Clone(c.Issue.BatchRequest))
			f.Add(bytes.Clone(c.Issue.BatchResponse))
			f.Add(bytes.Clone(c.Issue.PublicKey))
			f.Add(bytes.Clone(c.Issue.Challenge))
			for _, it := range c.Issue.Items {
				issued[string(it.Token)] = true
				f.Add(bytes.Clone(it.Token))
				f.Add(bytes.Clone(it.Request))
			}
		case c.PublicKey != nil:
			f.Add(bytes.Clone(c.PublicKey.Encoding))
		case c.Challenge != nil:
			f.Add(bytes.Clone(c.Challenge.Encoding))
		}
	}
	if vcase == nil || icase == nil {
		f.Fatal("no ok verify or issue case")
	}
	var keys []sendtoken.EpochKey
	for _, k := range vcase.Keys {
		pk, err := sendtoken.ParsePublicKey(k.PublicKey)
		if err != nil {
			f.Fatal(err)
		}
		keys = append(keys, sendtoken.EpochKey{Epoch: k.Epoch, Key: pk})
	}
	v, err := sendtoken.NewVerifier(vcase.Issuer, keys...)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(vcase.VerifyTime, 0)
	issuer, err := sendtoken.ParsePrivateKey(icase.IssuerKey)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		defer func() {
			if !bytes.Equal(in, data) {
				t.Fatal("input modified")
			}
		}()

		// Token: parse, verify.
		tok, perr := sendtoken.ParseToken(data)
		sp, verr := v.Verify(data, now)
		if perr != nil {
			if !errors.Is(perr, sendtoken.ErrMalformed) || !isSendTokenError(perr) || tok != (sendtoken.Token{}) {
				t.Fatalf("ParseToken refusal %v of the wrong kind, or with a token", perr)
			}
			if !errors.Is(verr, sendtoken.ErrMalformed) {
				t.Fatalf("ParseToken refuses, Verify says %v", verr)
			}
		} else if !bytes.Equal(tok.Marshal(), data) {
			t.Fatal("parsed token does not re-encode to the same bytes")
		}
		if verr != nil {
			if !isSendTokenError(verr) || sp != (sendtoken.Spent{}) {
				t.Fatalf("Verify refusal %v of the wrong kind, or with a spent value", verr)
			}
		} else if !issued[string(data)] || sp.Nonce != tok.Nonce {
			t.Fatalf("Verify accepted a token not from the vectors, or spent it under another nonce: %x", data)
		}

		// Issuer public key.
		if pk, err := sendtoken.ParsePublicKey(data); err != nil {
			if !errors.Is(err, sendtoken.ErrMalformed) || pk != nil {
				t.Fatalf("ParsePublicKey refusal %v", err)
			}
		} else if !bytes.Equal(pk.Bytes(), data) {
			t.Fatal("parsed public key does not re-encode to the same bytes")
		}

		// Challenge.
		if ch, err := sendtoken.ParseChallenge(data); err != nil {
			if !errors.Is(err, sendtoken.ErrMalformed) || ch != (sendtoken.Challenge{}) {
				t.Fatalf("ParseChallenge refusal %v", err)
			}
		} else if b, err := ch.Marshal(); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("parsed challenge does not re-encode to the same bytes: %v", err)
		}

		// Request batch, and issuance of a small one.
		reqs, err := sendtoken.ParseBatchRequest(data, sendtoken.MaxBatchSize)
		if err != nil {
			if !errors.Is(err, sendtoken.ErrMalformed) || reqs != nil {
				t.Fatalf("ParseBatchRequest refusal %v", err)
			}
		} else {
			if b, err := sendtoken.MarshalBatchRequest(reqs); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("parsed batch does not re-encode to the same bytes: %v", err)
			}
			if len(reqs) <= 2 {
				resps, err := issuer.Issue(reqs)
				if err != nil {
					if !isSendTokenError(err) || resps != nil {
						t.Fatalf("Issue refusal %v", err)
					}
				} else if len(resps) != len(reqs) {
					t.Fatalf("%d responses to %d requests", len(resps), len(reqs))
				}
			}
		}

		// Response batch, with the count it announces.
		if len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			resps, err := sendtoken.ParseBatchResponse(data, n)
			if err != nil {
				if !errors.Is(err, sendtoken.ErrMalformed) || resps != nil {
					t.Fatalf("ParseBatchResponse refusal %v", err)
				}
			} else if b, err := sendtoken.MarshalBatchResponse(resps); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("parsed response batch does not re-encode to the same bytes: %v", err)
			}
		}
	})
}
