package vectors

// This file defines the cases of spec/vectors/push.json (spec/push.md §4.10).

// PushCase is one Web Push message body and what a user agent must make of
// it (spec/push.md §4.3–§4.5).
type PushCase struct {
	ID      string `json:"id"`
	Comment string `json:"comment"`
	// UAPrivate is the user agent's P-256 scalar (32 bytes), UAPublic its
	// uncompressed point, AuthSecret the subscription's secret.
	UAPrivate  Hex `json:"ua_private"`
	UAPublic   Hex `json:"ua_public"`
	AuthSecret Hex `json:"auth_secret"`
	// Salt, ASPrivate and ASPublic are the sender's; with the values of
	// §4.3 they are empty in a case Encrypt does not reproduce.
	Salt       Hex `json:"salt"`
	ASPrivate  Hex `json:"as_private"`
	ASPublic   Hex `json:"as_public"`
	ECDHSecret Hex `json:"ecdh_secret"`
	IKM        Hex `json:"ikm"`
	PRK        Hex `json:"prk"`
	CEK        Hex `json:"cek"`
	Nonce      Hex `json:"nonce"`
	// Plaintext is what the body opens to (empty in a refusal case);
	// Padding the number of zero bytes after its delimiter.
	Plaintext Hex `json:"plaintext"`
	Padding   int `json:"padding"`
	Body      Hex `json:"body"`
	// Result is ok or decrypt.
	Result string `json:"result"`
}
