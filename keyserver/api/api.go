// Package api holds the key server's wire protocol, spec/keyserver.md: the
// JSON bodies of every request and response, the binary field encoding and
// the error codes. The server (package keyserver) and its clients both
// import it; it imports nothing of either.
package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// Bytes is a binary field: in JSON a string holding its base64url encoding
// without padding (RFC 4648 §5), canonical (spec/keyserver.md §2.2). The
// empty string is nil.
type Bytes []byte

// MarshalText implements encoding.TextMarshaler, which encoding/json
// writes as a JSON string. base64url needs no escaping, so the JSON is
// the same as a MarshalJSON returning the quoted encoding would give, but
// encoding/json does not rescan it as it does every MarshalJSON result
// (most of the cost of encoding a lookup answer's proofs).
func (b Bytes) MarshalText() ([]byte, error) {
	return base64.RawURLEncoding.AppendEncode(make([]byte, 0, base64.RawURLEncoding.EncodedLen(len(b))), b), nil
}

// b64 is the strict base64url decoder of spec/keyserver.md §2.2: no padding,
// unused bits zero.
var b64 = base64.RawURLEncoding.Strict()

// ErrBase64 reports a binary field that is not canonical base64url
// (error code bad_base64).
var ErrBase64 = errors.New("field is not unpadded base64url")

// UnmarshalJSON implements json.Unmarshaler: a JSON string of canonical
// unpadded base64url. null leaves b unchanged, as for other JSON types.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return ErrBase64
	}
	// The standard decoder skips CR and LF; a canonical value has none.
	if bytes.ContainsAny([]byte(s), "\r\n") {
		return ErrBase64
	}
	out, err := b64.DecodeString(s)
	if err != nil {
		return ErrBase64
	}
	if len(out) == 0 {
		out = nil
	}
	*b = out
	return nil
}

// ChallengeRequest is the body of POST /v1/challenges (spec/keyserver.md
// §5.1). An empty Audience means the key server's own.
type ChallengeRequest struct {
	Audience string `json:"audience,omitempty"`
}

// ChallengeResponse answers POST /v1/challenges.
type ChallengeResponse struct {
	Challenge Bytes `json:"challenge"`
	ExpiresAt int64 `json:"expires_at"`
}

// RegisterRequest is the body of POST /v1/accounts (spec/keyserver.md §5.2).
type RegisterRequest struct {
	Handle             string `json:"handle"`
	AccountKey         Bytes  `json:"account_key"`
	Certificate        Bytes  `json:"certificate"`
	Challenge          Bytes  `json:"challenge"`
	ChallengeSignature Bytes  `json:"challenge_signature"`
	Invite             string `json:"invite,omitempty"`
}

// KeySetResponse answers a registration, device addition or revocation:
// the new key set's version and its index in the server's internal
// version 1 log, the order of key-set changes (the revocation feed's
// cursor, spec/keyserver.md §5.9); the directory publishes it at a later
// epoch (§9).
type KeySetResponse struct {
	Version  uint64 `json:"version"`
	LogIndex int64  `json:"log_index"`
}

// AddDeviceRequest is the body of POST /v1/accounts/{handle}/devices
// (spec/keyserver.md §5.4).
type AddDeviceRequest struct {
	Certificate        Bytes `json:"certificate"`
	Challenge          Bytes `json:"challenge"`
	ChallengeSignature Bytes `json:"challenge_signature"`
}

// RevokeDeviceRequest is the body of POST
// /v1/accounts/{handle}/devices/{id}/revoke (spec/keyserver.md §5.5).
type RevokeDeviceRequest struct {
	Revocation Bytes `json:"revocation"`
}

// TokenRequest is the body of POST /v1/tokens (spec/keyserver.md §5.6).
type TokenRequest struct {
	Handle             string `json:"handle"`
	Device             uint32 `json:"device"`
	Audience           string `json:"audience"`
	Challenge          Bytes  `json:"challenge"`
	ChallengeSignature Bytes  `json:"challenge_signature"`
}

// TokenResponse answers POST /v1/tokens.
type TokenResponse struct {
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"`
}

// PrekeyUpload is the body of PUT /v1/prekeys (spec/keyserver.md §5.7).
// Each value is a prekey encoding (spec/keys.md §8).
type PrekeyUpload struct {
	SignedPrekey        Bytes   `json:"signed_prekey,omitempty"`
	LastResortKEMPrekey Bytes   `json:"last_resort_kem_prekey,omitempty"`
	OneTimePrekeys      []Bytes `json:"one_time_prekeys"`
	OneTimeKEMPrekeys   []Bytes `json:"one_time_kem_prekeys"`
}

// PrekeyCounts answers GET /v1/prekeys/count and PUT /v1/prekeys.
type PrekeyCounts struct {
	OneTime    int `json:"one_time"`
	OneTimeKEM int `json:"one_time_kem"`
}

// ClaimResponse answers POST /v1/accounts/{handle}/claim (spec/keyserver.md
// §5.8).
type ClaimResponse struct {
	Bundles []ClaimedBundle `json:"bundles"`
	// OneTimeWithheld says the target account's one-time claim limit was
	// reached: every bundle carries the signed and last-resort prekeys
	// only, though the devices may hold one-time prekeys.
	OneTimeWithheld bool `json:"one_time_withheld"`
}

// ClaimedBundle is the bundle of one device. Exhausted says the device had
// no one-time prekey of either kind left: the bundle carries the signed
// prekey and the last-resort KEM prekey only.
type ClaimedBundle struct {
	Device    uint32 `json:"device"`
	Bundle    Bytes  `json:"bundle"`
	Exhausted bool   `json:"exhausted"`
}

// CheckpointResponse answers GET /v2/log/checkpoint (spec/keyserver.md §9.3).
type CheckpointResponse struct {
	Checkpoint string `json:"checkpoint"`
}

// ConsistencyResponse answers GET /v2/log/consistency.
type ConsistencyResponse struct {
	Proof []Bytes `json:"proof"`
}

// LeavesResponse answers GET /v2/log/leaves.
type LeavesResponse struct {
	Leaves []Bytes `json:"leaves"`
}

// DirectoryLookup answers GET /v2/accounts/{handle} (spec/keyserver.md
// §9.1, spec/transparency-v2.md §6.2): the proof of the handle's latest
// key set in the directory, or of its absence (Entry and Opening absent).
type DirectoryLookup struct {
	Handle     string  `json:"handle"`
	VRFProof   Bytes   `json:"vrf_proof"`
	Epoch      uint64  `json:"epoch"`
	Leaf       Bytes   `json:"leaf"`
	MapProof   Bytes   `json:"map_proof"`
	Inclusion  []Bytes `json:"inclusion"`
	Checkpoint string  `json:"checkpoint"`
	Entry      Bytes   `json:"entry,omitempty"`
	Opening    Bytes   `json:"opening,omitempty"`
}

// DirectoryHistory answers GET /v2/accounts/{handle}/history
// (spec/keyserver.md §9.2, spec/transparency-v2.md §6.4): every value the
// handle's map index has had, with the proofs that it had no other.
type DirectoryHistory struct {
	Handle     string           `json:"handle"`
	VRFProof   Bytes            `json:"vrf_proof"`
	Checkpoint string           `json:"checkpoint"`
	Versions   []HistoryVersion `json:"versions"`
	Proofs     []EpochProof     `json:"proofs"`
}

// HistoryVersion is one sequenced value of a handle: its map version
// (1, 2, …), the epoch that set it, the key-set entry and its opening.
type HistoryVersion struct {
	Version uint64 `json:"version"`
	Epoch   uint64 `json:"epoch"`
	Entry   Bytes  `json:"entry"`
	Opening Bytes  `json:"opening"`
}

// EpochProof is the proof of a handle's map value at one epoch: the
// epoch's leaf, its inclusion under the answer's checkpoint and the map
// lookup proof.
type EpochProof struct {
	Epoch     uint64  `json:"epoch"`
	Leaf      Bytes   `json:"leaf"`
	Inclusion []Bytes `json:"inclusion"`
	MapProof  Bytes   `json:"map_proof"`
}

// BatchResponse answers GET /v2/log/batch?epoch=N (spec/keyserver.md
// §9.4): the public batch of epoch N and its batch proof against the map
// of epoch N−1 (spec/transparency-v2.md §4.6).
type BatchResponse struct {
	Batch Bytes `json:"batch"`
	Proof Bytes `json:"proof"`
}

// WellKnown is the body of GET /.well-known/sealpost-keyserver
// (spec/keyserver.md §5.0).
type WellKnown struct {
	Name           string       `json:"name"`
	TokenKey       Bytes        `json:"token_key"`
	TokenKeyID     Bytes        `json:"token_key_id"`
	Audience       string       `json:"audience"`
	RelayAudiences []string     `json:"relay_audiences"`
	InviteOnly     bool         `json:"invite_only"`
	Limits         PublicLimits `json:"limits"`
	// DirectoryOrigin and DirectoryVerifierKey name the directory's log,
	// the only log the server publishes (spec/transparency-v2.md §5):
	// origin "<name>/sealpost-kt/v2", signed with the log key. VRFKey is
	// the directory's VRF public key (§3.2), which every leaf carries. All
	// three are empty when the server runs without a directory.
	DirectoryOrigin      string `json:"directory_origin"`
	DirectoryVerifierKey string `json:"directory_verifier_key"`
	VRFKey               Bytes  `json:"vrf_key"`
	// SendTokenKeys is the path of the send-token keys document,
	// SendTokenKeysPath (spec/keyserver.md §5.10).
	SendTokenKeys string `json:"send_token_keys"`
}

// Send-token issuance (spec/keyserver.md §5.10, spec/anonymous.md §5).
const (
	// SendTokenKeysPath serves the keys document, SendTokenKeys.
	SendTokenKeysPath = "/v1/send-tokens/keys"
	// SendTokensPath takes a BatchTokenRequest and answers a
	// BatchTokenResponse, both application/octet-stream.
	SendTokensPath = "/v1/send-tokens"
	// HeaderSendTokenEpoch names, in an issuance answer, the epoch (decimal)
	// of the key that signed it.
	HeaderSendTokenEpoch = "Sealpost-Send-Token-Epoch"
	// OctetStream is the media type of issuance requests and answers.
	OctetStream = "application/octet-stream"
)

// SendTokenKeys is the body of GET /v1/send-tokens/keys (spec/keyserver.md
// §5.10): the issuer name of the tokens' challenge and the public keys of
// the previous, current and next epoch that the store holds, by epoch.
type SendTokenKeys struct {
	Issuer    string         `json:"issuer"`
	TokenType int            `json:"token_type"`
	Keys      []SendTokenKey `json:"keys"`
}

// SendTokenKey is one epoch's issuer public key: its encoding of
// spec/anonymous.md §3.1 (346 bytes) and its key id (§3.2) in lower-case
// hex.
type SendTokenKey struct {
	Epoch     uint64 `json:"epoch"`
	PublicKey Bytes  `json:"public_key"`
	KeyID     string `json:"key_id"`
}

// PublicLimits are the limits a client needs to know.
type PublicLimits struct {
	MaxBodyBytes        int64 `json:"max_body_bytes"`
	MaxOneTimePerUpload int   `json:"max_one_time_per_upload"`
	MaxOneTimePerDevice int   `json:"max_one_time_per_device"`
	TokenLifetime       int64 `json:"token_lifetime_seconds"`
	MaxLeaves           int   `json:"max_leaves"`
	// SendTokenBatch and SendTokensPerEpoch are the issuance limits of
	// spec/keyserver.md §5.10.
	SendTokenBatch     int `json:"send_token_batch"`
	SendTokensPerEpoch int `json:"send_tokens_per_epoch"`
}

// AudiencePrefix is the audience form of the key server's tokens,
// "keyserver:<name>" (spec/keyserver.md §2.3).
const AudiencePrefix = "keyserver:"

// Error codes, spec/keyserver.md §3; named in spec/errors.md §3.9, whose
// table internal/specnames holds these constants to. Each error response is
// a JSON body {"error": CODE, "message": TEXT} with the status the table
// gives.
const (
	CodeMalformedJSON    = "malformed_json"
	CodeUnknownField     = "unknown_field"
	CodeBodyTooLarge     = "body_too_large"
	CodeBadBase64        = "bad_base64"
	CodeBadKeyLength     = "bad_key_length"
	CodeMalformedKey     = "malformed_key"
	CodeBadSignature     = "bad_signature"
	CodeBadRequest       = "bad_request"
	CodeInvalidToken     = "invalid_token"
	CodeTokenExpired     = "token_expired"
	CodeWrongAudience    = "wrong_audience"
	CodeUnknownHandle    = "unknown_handle"
	CodeUnknownDevice    = "unknown_device"
	CodeHandleTaken      = "handle_taken"
	CodeInvalidHandle    = "invalid_handle"
	CodeTooManyPrekeys   = "too_many_prekeys"
	CodeDuplicatePrekey  = "duplicate_prekey"
	CodeWrongPrekeyKind  = "wrong_prekey_kind"
	CodeDeviceExists     = "device_exists"
	CodeDeviceRevoked    = "device_revoked"
	CodeTooManyDevices   = "too_many_devices"
	CodeChallengeInvalid = "challenge_invalid"
	CodeInviteRequired   = "invite_required"
	CodeForbidden        = "forbidden"
	CodeConflict         = "conflict"
	CodeRateLimited      = "rate_limited"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
	// Send-token issuance (spec/keyserver.md §5.10).
	CodeMalformed      = "malformed"
	CodeUnknownKey     = "unknown_key"
	CodeSendTokenLimit = "send_token_limit"
)

// ErrorResponse is the body of every error response (spec/keyserver.md §3).
type ErrorResponse struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}
