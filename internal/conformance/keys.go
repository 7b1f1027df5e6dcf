package conformance

import (
	"fmt"

	"github.com/sealpost/sealpost/internal/vectors"
)

// Questions and results of keys.json (spec/conformance.md §3.3).

// ReceiveQuestion asks to parse and verify a certificate, revocation,
// prekey or bundle against a handle and key.
type ReceiveQuestion struct {
	Type         string      `json:"type"`
	Input        vectors.Hex `json:"input"`
	VerifyHandle string      `json:"verify_handle,omitempty"`
	VerifyKey    vectors.Hex `json:"verify_key"`
}

// ReceiveResult is the answer for an accepted input.
type ReceiveResult struct {
	Valid bool `json:"valid"`
}

// SafetyNumberQuestion asks for the safety number of two accounts and the
// comparison of each scanned string with it.
type SafetyNumberQuestion struct {
	Type     string      `json:"type"`
	HandleA  string      `json:"handle_a"`
	AccountA vectors.Hex `json:"account_a"`
	HandleB  string      `json:"handle_b"`
	AccountB vectors.Hex `json:"account_b"`
	Scanned  []string    `json:"scanned"`
}

// SafetyNumberResult is the digits, the compact string, and for each
// scanned string "" (a match), "safety_number_mismatch" or "malformed".
type SafetyNumberResult struct {
	Digits  string   `json:"digits"`
	Compact string   `json:"compact"`
	Scans   []string `json:"scans"`
}

// KeysSuite checks keys.json.
func KeysSuite() *Suite {
	return &Suite{File: "keys.json", Checks: func() ([]Check, error) {
		f, err := vectors.Load[vectors.KeysCase]("keys.json")
		if err != nil {
			return nil, err
		}
		var cs []Check
		for _, c := range f.Cases {
			var r *vectors.KeysReceive
			switch {
			case c.Type == "certificate" && c.Certificate != nil:
				r = &c.Certificate.Receive
			case c.Type == "revocation" && c.Revocation != nil:
				r = &c.Revocation.Receive
			case c.Type == "prekey" && c.Prekey != nil:
				r = &c.Prekey.Receive
			case c.Type == "bundle" && c.Bundle != nil:
				r = &c.Bundle.Receive
			case c.Type == "safety-number" && c.SafetyNumber != nil:
				s := c.SafetyNumber
				q := &SafetyNumberQuestion{Type: c.Type, HandleA: s.HandleA, AccountA: s.AccountA.Public, HandleB: s.HandleB, AccountB: s.AccountB.Public, Scanned: []string{}}
				want := &SafetyNumberResult{Digits: s.Digits, Compact: s.Compact, Scans: []string{}}
				for _, sc := range s.Scans {
					q.Scanned = append(q.Scanned, sc.Scanned)
					want.Scans = append(want.Scans, sc.Error)
				}
				cs = append(cs, Check{ID: c.ID, Case: q, Want: want})
				continue
			case (c.Type == "ed25519" && c.Ed25519 != nil) || (c.Type == "x25519" && c.X25519 != nil):
				// The primitive rules (spec/keys.md §2.1, §2.2) are not
				// asked through the harness yet: an implementation
				// checks them by reading keys.json (spec/conformance.md
				// §3.3).
				continue
			default:
				return nil, fmt.Errorf("conformance: keys.json %s: unknown type %q", c.ID, c.Type)
			}
			ch := Check{ID: c.ID, Case: &ReceiveQuestion{Type: c.Type, Input: nonNil(r.Input), VerifyHandle: r.VerifyHandle, VerifyKey: nonNil(r.VerifyKey)}, Error: r.Error}
			if r.Error == "" {
				ch.Want = &ReceiveResult{Valid: true}
			}
			cs = append(cs, ch)
		}
		return cs, nil
	}}
}

// Questions and results of seal.json (spec/conformance.md §3.4).

// OpenQuestion asks a recipient device to open an envelope.
type OpenQuestion struct {
	RecipientSigningSeed vectors.Hex `json:"recipient_signing_seed"`
	RecipientDHPrivate   vectors.Hex `json:"recipient_dh_private"`
	Envelope             vectors.Hex `json:"envelope"`
}

// OpenResult is the opened envelope: the sender's certificate and the
// message.
type OpenResult struct {
	SenderCertificate vectors.Hex `json:"sender_certificate"`
	Message           vectors.Hex `json:"message"`
}

// SealSuite checks seal.json.
func SealSuite() *Suite {
	return &Suite{File: "seal.json", Checks: func() ([]Check, error) {
		f, err := vectors.Load[vectors.SealCase]("seal.json")
		if err != nil {
			return nil, err
		}
		var cs []Check
		for _, c := range f.Cases {
			ch := Check{ID: c.ID, Case: &OpenQuestion{RecipientSigningSeed: c.RecipientSigningSeed, RecipientDHPrivate: c.RecipientDHPrivate, Envelope: nonNil(c.Envelope)}, Error: c.Error}
			if c.Error == "" {
				ch.Want = &OpenResult{SenderCertificate: c.SenderCertificate, Message: nonNil(c.Message)}
			}
			cs = append(cs, ch)
		}
		return cs, nil
	}}
}
