package vectors

// This file defines the cases of spec/vectors/sendtoken.json
// (spec/anonymous.md §9). The generator in spec/vectorgen writes them;
// crypto/token/sendtoken and the fuzz targets read them.

// SendTokenCase is one case of sendtoken.json. Type names the one pointer
// field that is set: "issue", "verify", "public-key" or "challenge".
type SendTokenCase struct {
	ID        string                  `json:"id"`
	Comment   string                  `json:"comment"`
	Type      string                  `json:"type"`
	Issue     *SendTokenIssueCase     `json:"issue,omitempty"`
	Verify    *SendTokenVerifyCase    `json:"verify,omitempty"`
	PublicKey *SendTokenPublicKeyCase `json:"public_key,omitempty"`
	Challenge *SendTokenChallengeCase `json:"challenge,omitempty"`
}

// SendTokenItem is one token of an issuance, with the client's randomness
// (spec/anonymous.md §5.1): Nonce, then the RFC 9474 salt and blind r
// (Blind is I2OSP(r, 256)).
type SendTokenItem struct {
	Nonce    Hex `json:"nonce"`
	Salt     Hex `json:"salt"`
	Blind    Hex `json:"blind"`
	Request  Hex `json:"request"`
	Response Hex `json:"response"`
	Token    Hex `json:"token"`
}

// SendTokenIssueCase is a batch presented to an issuer (§5). IssuerKey is
// the PKCS#8 DER private key; PublicKey its encoding (§3.1) and KeyID its
// id. When Result is "ok", Items are the tokens the batch makes for
// Challenge, BatchRequest their framed requests and BatchResponse the
// issuer's answer; otherwise Items is empty and BatchRequest is refused by
// parsing (with MaxBatch) or by Issue, with Result.
type SendTokenIssueCase struct {
	IssuerKey     Hex             `json:"issuer_key"`
	PublicKey     Hex             `json:"public_key"`
	KeyID         Hex             `json:"key_id"`
	Issuer        string          `json:"issuer"`
	Epoch         uint64          `json:"epoch"`
	Challenge     Hex             `json:"challenge"`
	Items         []SendTokenItem `json:"items"`
	BatchRequest  Hex             `json:"batch_request"`
	MaxBatch      int             `json:"max_batch"`
	BatchResponse Hex             `json:"batch_response"`
	Result        string          `json:"result"`
}

// SendTokenEpochKey is a key a verifier accepts and its epoch.
type SendTokenEpochKey struct {
	Epoch     uint64 `json:"epoch"`
	PublicKey Hex    `json:"public_key"`
}

// SendTokenVerifyCase is a token presented to a relay (§6). When Result is
// "ok", SpentEpoch and SpentNonce are what it is spent under.
type SendTokenVerifyCase struct {
	Issuer     string              `json:"issuer"`
	Keys       []SendTokenEpochKey `json:"keys"`
	VerifyTime int64               `json:"verify_time"`
	Token      Hex                 `json:"token"`
	Result     string              `json:"result"`
	SpentEpoch uint64              `json:"spent_epoch"`
	SpentNonce Hex                 `json:"spent_nonce"`
}

// SendTokenPublicKeyCase is an issuer public key encoding (§3.1); KeyID is
// set when Error is "".
type SendTokenPublicKeyCase struct {
	Encoding Hex    `json:"encoding"`
	KeyID    Hex    `json:"key_id"`
	Error    string `json:"error"`
}

// SendTokenChallengeCase is a TokenChallenge (§4.2): when Error is "",
// Encoding is the challenge of Issuer and Epoch and Digest its SHA-256.
type SendTokenChallengeCase struct {
	Issuer   string `json:"issuer"`
	Epoch    uint64 `json:"epoch"`
	Encoding Hex    `json:"encoding"`
	Digest   Hex    `json:"digest"`
	Error    string `json:"error"`
}
