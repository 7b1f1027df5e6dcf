package localstore

import "fmt"

// The kv engine's send-token wallet (sendtokens.go). The wallet holds a
// few hundred tokens at most; its epoch index is scanned from the start.

// PutSendTokens implements Tx.
func (tx *kvTx) PutSendTokens(epoch uint64, tokens [][]byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	e, err := epochInt(epoch)
	if err != nil {
		return err
	}
	h := tx.t("send_tokens")
	for _, t := range tokens {
		sealed, err := tx.s.seal(sendTokenAD(epoch), t)
		if err != nil {
			return err
		}
		if _, err := h.insert(h.row("epoch", e, "token", sealed)); err != nil {
			return fmt.Errorf("localstore: put send token: %w", err)
		}
	}
	return nil
}

// SendTokenCount implements Tx.
func (tx *kvTx) SendTokenCount(minEpoch uint64) (int, error) {
	e, err := epochInt(minEpoch)
	if err != nil {
		return 0, err
	}
	n := 0
	tx.t("send_tokens").scanIndex("send_tokens_epoch", true, func(r kvRow) bool {
		if r.i("epoch") < e {
			return false
		}
		n++
		return true
	})
	return n, nil
}

// TakeSendToken implements Tx: the token of the lowest epoch at or after
// minEpoch, of equal epochs the first stored.
func (tx *kvTx) TakeSendToken(minEpoch uint64) (epoch uint64, token []byte, err error) {
	if err := tx.writable(); err != nil {
		return 0, nil, err
	}
	min, err := epochInt(minEpoch)
	if err != nil {
		return 0, nil, err
	}
	h := tx.t("send_tokens")
	var (
		row   kvRow
		found bool
	)
	h.scanIndex("send_tokens_epoch", false, func(r kvRow) bool {
		if r.i("epoch") >= min {
			row, found = r, true
		}
		return !found
	})
	if !found {
		return 0, nil, ErrNotFound
	}
	e := row.i("epoch")
	if token, err = tx.s.openSendToken(e, row.b("token")); err != nil {
		return 0, nil, err
	}
	if _, err := h.delRow(row); err != nil {
		return 0, nil, err
	}
	return uint64(e), token, nil
}

// DropSendTokensBefore implements Tx.
func (tx *kvTx) DropSendTokensBefore(epoch uint64) (int64, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	e, err := epochInt(epoch)
	if err != nil {
		return 0, err
	}
	h := tx.t("send_tokens")
	var n int64
	h.scanIndex("send_tokens_epoch", false, func(r kvRow) bool {
		if r.i("epoch") >= e {
			return false
		}
		var ok bool
		if ok, err = h.delRow(r); ok {
			n++
		}
		return err == nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// SetOutgoingToken implements Tx.
func (tx *kvTx) SetOutgoingToken(messageID []byte, recipient string, device uint32, epoch uint64, token []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, e, err := tx.s.sealOutgoingToken(messageID, recipient, device, epoch, token)
	if err != nil {
		return err
	}
	h := tx.t("outgoing")
	r, ok := h.unique([]string{"message_id", "recipient", "device"}, nonNil(messageID), recipient, device)
	if !ok {
		return fmt.Errorf("%w: set outgoing token", ErrNotFound)
	}
	r.set("send_token", kvNullable(sealed)).set("token_epoch", e)
	_, err = h.update(r)
	return err
}
