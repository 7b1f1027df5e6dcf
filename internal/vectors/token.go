package vectors

// This file defines the cases of spec/vectors/token.json and
// spec/vectors/token-challenge.json (spec/token.md §8).

// TokenClaims are the fields a token was issued with (spec/token.md §4.1).
type TokenClaims struct {
	Handle   string `json:"handle"`
	Device   uint32 `json:"device"`
	Audience string `json:"audience"`
	IssuedAt uint64 `json:"issued_at"`
	Expiry   uint64 `json:"expiry"`
	Nonce    Hex    `json:"nonce"`
	KeyID    Hex    `json:"key_id"`
}

// TokenCase is one case of token.json (spec/token.md §8.1): a token, the
// verifier it is presented to, when, and what the verifier must answer.
type TokenCase struct {
	ID      string `json:"id"`
	Comment string `json:"comment"`
	// IssuerSeed is the Ed25519 seed of the key that signed Token.
	IssuerSeed Hex `json:"issuer_seed"`
	// VerifierKeys are the issuer public keys the verifier accepts.
	VerifierKeys     []Hex  `json:"verifier_keys"`
	VerifierAudience string `json:"verifier_audience"`
	SkewSeconds      int64  `json:"skew_seconds"`
	VerifyTime       int64  `json:"verify_time"`
	// Claims is null when Token does not parse.
	Claims *TokenClaims `json:"claims"`
	// Token is the binary token; empty when the case is about Text only.
	Token Hex `json:"token"`
	// Text is what the verifier is given.
	Text string `json:"text"`
	// Result is ok, malformed, unknown_key, bad_signature, wrong_audience,
	// not_yet_valid or expired.
	Result string `json:"result"`
}

// ChallengeFields are a challenge's fields (spec/token.md §5.1).
type ChallengeFields struct {
	Nonce    Hex    `json:"nonce"`
	IssuedAt uint64 `json:"issued_at"`
	Expiry   uint64 `json:"expiry"`
	Audience string `json:"audience"`
	Server   string `json:"server"`
}

// ChallengeCase is one case of token-challenge.json (spec/token.md §8.2).
type ChallengeCase struct {
	ID         string `json:"id"`
	Comment    string `json:"comment"`
	DeviceSeed Hex    `json:"device_seed"`
	Handle     string `json:"handle"`
	Device     uint32 `json:"device"`
	// Server is the key server the device means to reach (§5.4 step 2).
	Server    string `json:"server"`
	Challenge Hex    `json:"challenge"`
	// Fields is null when Challenge does not parse.
	Fields    *ChallengeFields `json:"fields"`
	Signature Hex              `json:"signature"`
	// VerifyTime is when the key server checks the response.
	VerifyTime int64 `json:"verify_time"`
	// SignResult is the device side (§5.4): ok, malformed or wrong_audience.
	SignResult string `json:"sign_result"`
	// VerifyResult is the key-server side (§5.5): ok, malformed,
	// bad_signature, not_yet_valid or expired.
	VerifyResult string `json:"verify_result"`
}
