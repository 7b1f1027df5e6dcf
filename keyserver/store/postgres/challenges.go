package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/keyserver/store"
)

// PutChallenge implements store.Store. Putting a nonce that is already
// outstanding is an error (nonces are random; a repeat is a fault).
func (s *Store) PutChallenge(ctx context.Context, nonce []byte, expiry time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO challenges (nonce, expiry) VALUES ($1, $2)`, nonNil(nonce), expiry)
	if uniqueViolation(err, "") {
		return errors.New("postgres: challenge nonce already outstanding")
	}
	if err != nil {
		return wrap("put challenge", err)
	}
	return nil
}

// UseChallenge implements store.Store. One statement deletes the nonce's
// row, returning its expiry, and every other expired challenge; of
// concurrent users of one nonce exactly one deletes its row. A challenge is
// valid while now is before its expiry.
func (s *Store) UseChallenge(ctx context.Context, nonce []byte, now time.Time) error {
	var expiry time.Time
	err := s.pool.QueryRow(ctx, `WITH used AS (
			DELETE FROM challenges WHERE nonce = $1 RETURNING expiry
		), expired AS (
			DELETE FROM challenges WHERE expiry <= $2 AND nonce <> $1
		)
		SELECT expiry FROM used`, nonNil(nonce), now).Scan(&expiry)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrChallenge
	}
	if err != nil {
		return wrap("use challenge", err)
	}
	if !now.Before(expiry) {
		return store.ErrChallenge
	}
	return nil
}

// AddInvite implements store.Store. Adding a hash already present (used
// or not) changes nothing.
func (s *Store) AddInvite(ctx context.Context, codeHash []byte) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO invites (code_hash) VALUES ($1) ON CONFLICT (code_hash) DO NOTHING`,
		nonNil(codeHash)); err != nil {
		return wrap("add invite", err)
	}
	return nil
}
