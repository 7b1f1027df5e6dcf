package localstore

import (
	"time"
)

// Answered PQXDH initial messages (spec/client-store.md §4.12): the client
// refuses an initial message it has answered before, for as long as the
// signed prekey it names exists (spec/client.md §5.1).

// RememberInitial records hash (SHA-256 of an initial message) as answered
// with the signed prekey signedPrekey. Recording it again is not an error.
func (tx *sqlTx) RememberInitial(hash []byte, signedPrekey uint32, at time.Time) error {
	_, err := tx.exec("remember initial message", `INSERT OR IGNORE INTO initial_messages (hash, signed_prekey, created) VALUES (?, ?, ?)`,
		nonNil(hash), int64(signedPrekey), nanos(at))
	return err
}

// InitialAnswered reports whether hash was recorded by RememberInitial.
func (tx *sqlTx) InitialAnswered(hash []byte) (bool, error) {
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT COUNT(*) FROM initial_messages WHERE hash = ?`, nonNil(hash)).Scan(&n); err != nil {
		return false, dbErr("initial message answered", err)
	}
	return n > 0, nil
}

// ForgetInitials deletes the initial messages recorded with signedPrekey
// (once that prekey is deleted, a replay names a prekey that is gone) and
// returns how many there were.
func (tx *sqlTx) ForgetInitials(signedPrekey uint32) (int64, error) {
	res, err := tx.exec("forget initial messages", `DELETE FROM initial_messages WHERE signed_prekey = ?`, int64(signedPrekey))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr("forget initial messages", err)
	}
	return n, nil
}
