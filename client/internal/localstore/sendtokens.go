package localstore

import (
	"database/sql"
	"errors"
	"math"
)

// The send-token wallet (spec/client-store.md §4.20): unspent tokens of
// spec/anonymous.md §5.5, each sealed and bound to its epoch.

func sendTokenAD(epoch uint64) rowKey {
	return newRowKey("send_tokens", "token").int(epoch)
}

func outgoingTokenAD(messageID []byte, recipient string, device uint32, epoch uint64) rowKey {
	return newRowKey("outgoing", "send_token").bytes(messageID).text(recipient).int(uint64(device)).int(epoch)
}

// epochInt converts an epoch for a column; epochs are day numbers, far
// below 2^63 (spec/anonymous.md §4.1).
func epochInt(e uint64) (int64, error) {
	if e > math.MaxInt64 {
		return 0, errors.New("localstore: epoch out of range")
	}
	return int64(e), nil
}

// PutSendTokens adds tokens of one epoch to the wallet.
func (tx *sqlTx) PutSendTokens(epoch uint64, tokens [][]byte) error {
	if tx.readOnly {
		return errReadOnly
	}
	e, err := epochInt(epoch)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		sealed, err := tx.s.seal(sendTokenAD(epoch), t)
		if err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO send_tokens (epoch, token) VALUES (?, ?)`, e, sealed); err != nil {
			return dbErr("put send token", err)
		}
	}
	return nil
}

// SendTokenCount counts the wallet's tokens of epoch minEpoch or later.
func (tx *sqlTx) SendTokenCount(minEpoch uint64) (int, error) {
	e, err := epochInt(minEpoch)
	if err != nil {
		return 0, err
	}
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT COUNT(*) FROM send_tokens WHERE epoch >= ?`, e).Scan(&n); err != nil {
		return 0, dbErr("count send tokens", err)
	}
	return n, nil
}

// TakeSendToken removes and returns a token of epoch minEpoch or later,
// the oldest epoch first (it expires first); ErrNotFound if there is none.
func (tx *sqlTx) TakeSendToken(minEpoch uint64) (epoch uint64, token []byte, err error) {
	if tx.readOnly {
		return 0, nil, errReadOnly
	}
	min, err := epochInt(minEpoch)
	if err != nil {
		return 0, nil, err
	}
	var (
		id     int64
		e      int64
		sealed []byte
	)
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT id, epoch, token FROM send_tokens WHERE epoch >= ? ORDER BY epoch, id LIMIT 1`, min).Scan(&id, &e, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, ErrNotFound
	}
	if err != nil {
		return 0, nil, dbErr("take send token", err)
	}
	if token, err = tx.s.openSendToken(e, sealed); err != nil {
		return 0, nil, err
	}
	if err := tx.execOne("take send token", `DELETE FROM send_tokens WHERE id = ?`, id); err != nil {
		return 0, nil, err
	}
	return uint64(e), token, nil
}

// openSendToken opens a send_tokens row's token of epoch e (both engines).
func (s *Store) openSendToken(e int64, sealed []byte) ([]byte, error) {
	if e < 0 {
		return nil, corrupt("send_tokens.epoch out of range")
	}
	return s.open(sendTokenAD(uint64(e)), sealed)
}

// DropSendTokensBefore deletes the tokens of epochs before epoch (they no
// longer verify, spec/anonymous.md §4.1) and returns how many.
func (tx *sqlTx) DropSendTokensBefore(epoch uint64) (int64, error) {
	if tx.readOnly {
		return 0, errReadOnly
	}
	e, err := epochInt(epoch)
	if err != nil {
		return 0, err
	}
	res, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM send_tokens WHERE epoch < ?`, e)
	if err != nil {
		return 0, dbErr("drop send tokens", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// SetOutgoingToken records the token a queued envelope is paid with (nil
// token: none), so that its retries spend the same one
// (spec/client.md §13.3); ErrNotFound if the envelope is not queued.
func (tx *sqlTx) SetOutgoingToken(messageID []byte, recipient string, device uint32, epoch uint64, token []byte) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, e, err := tx.s.sealOutgoingToken(messageID, recipient, device, epoch, token)
	if err != nil {
		return err
	}
	return tx.execOne("set outgoing token", `UPDATE outgoing SET send_token = ?, token_epoch = ?
		WHERE message_id = ? AND recipient = ? AND device = ?`, sealed, e, nonNil(messageID), recipient, int64(device))
}

// sealOutgoingToken returns the outgoing row's send_token and token_epoch
// for token of epoch (both engines): NULL and 0 for a nil token.
func (s *Store) sealOutgoingToken(messageID []byte, recipient string, device uint32, epoch uint64, token []byte) ([]byte, int64, error) {
	e, err := epochInt(epoch)
	if err != nil {
		return nil, 0, err
	}
	if token == nil {
		return nil, 0, nil
	}
	sealed, err := s.seal(outgoingTokenAD(messageID, recipient, device, epoch), token)
	if err != nil {
		return nil, 0, err
	}
	return sealed, e, nil
}
