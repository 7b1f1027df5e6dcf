package store

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// ErrSendTokenLimit: issuing the tokens asked for would take the account
// past its limit for the epoch (spec/keyserver.md §5.10). Nothing was
// counted.
var ErrSendTokenLimit = errors.New("store: send token limit reached")

// SendTokens keeps the key server's send-token state (spec/anonymous.md
// §4.3, spec/keyserver.md §5.10): the issuer's signing key of each epoch
// and how many tokens each account was issued in each epoch. Epochs are
// day numbers (spec/anonymous.md §4.1), below 2^63.
//
// A signing key is stored as PKCS#8 DER. It is secret: whoever reads the
// store can mint send tokens of its epoch (SECURITY.md).
type SendTokens interface {
	// PutSendTokenKey stores key as the signing key of epoch unless the
	// epoch has one already, and returns the epoch's stored key: of
	// concurrent writers, on one database, the first wins and every one
	// gets the winner's key.
	PutSendTokenKey(ctx context.Context, epoch uint64, key []byte) ([]byte, error)
	// SendTokenKeys returns the stored signing keys of the epochs from
	// first to last, by epoch; epochs without a key are absent.
	SendTokenKeys(ctx context.Context, first, last uint64) (map[uint64][]byte, error)
	// DeleteSendTokenState deletes the signing keys of the epochs before
	// keysBefore and the counts of the epochs before countsBefore.
	DeleteSendTokenState(ctx context.Context, keysBefore, countsBefore uint64) error
	// AddSendTokens adds n (≥ 1) to the count of handle in epoch if the
	// count stays at most limit, atomically, and returns the new count;
	// otherwise it returns ErrSendTokenLimit and changes nothing.
	AddSendTokens(ctx context.Context, handle string, epoch uint64, n, limit int) (int, error)
	// ReturnSendTokens subtracts n (≥ 1) from the count of handle in
	// epoch, not below 0: the tokens counted for an issuance that then
	// failed.
	ReturnSendTokens(ctx context.Context, handle string, epoch uint64, n int) error
	// SendTokensIssued returns the count of handle in epoch (0 if none).
	SendTokensIssued(ctx context.Context, handle string, epoch uint64) (int, error)
}

// EpochInt64 is an epoch as a database integer (both engines store
// int64); SendTokens epochs are below 2^63.
func EpochInt64(e uint64) (int64, error) {
	if e > math.MaxInt64 {
		return 0, fmt.Errorf("store: epoch %d out of range", e)
	}
	return int64(e), nil
}
