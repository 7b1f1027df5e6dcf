package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

// PutChallenge records a challenge nonce valid until expiry.
func (s *Store) PutChallenge(ctx context.Context, nonce []byte, expiry time.Time) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO challenges (nonce, expiry) VALUES (?, ?)`, nonNil(nonce), expiry.UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: put challenge: %w", err)
	}
	return nil
}

// UseChallenge consumes a challenge that is live at now, and deletes every
// challenge expired at now.
func (s *Store) UseChallenge(ctx context.Context, nonce []byte, now time.Time) error {
	expired := false
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		expired = false
		var expiry int64
		err := tx.QueryRowContext(ctx, `DELETE FROM challenges WHERE nonce = ? RETURNING expiry`, nonNil(nonce)).Scan(&expiry)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrChallenge
		case err != nil:
			return fmt.Errorf("sqlite: use challenge: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM challenges WHERE expiry <= ?`, now.UnixNano()); err != nil {
			return fmt.Errorf("sqlite: delete expired challenges: %w", err)
		}
		// An expired challenge is refused, but its deletion committed.
		expired = expiry <= now.UnixNano()
		return nil
	})
	if err == nil && expired {
		return store.ErrChallenge
	}
	return err
}

// AddInvite stores the hash of an invite code; adding one again changes
// nothing.
func (s *Store) AddInvite(ctx context.Context, codeHash []byte) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO invites (hash) VALUES (?) ON CONFLICT (hash) DO NOTHING`, nonNil(codeHash))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: add invite: %w", err)
	}
	return nil
}
