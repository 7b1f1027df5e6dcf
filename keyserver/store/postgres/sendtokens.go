package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/keyserver/store"
)

// PutSendTokenKey implements store.SendTokens. One statement inserts the
// key unless the epoch has one and returns the stored key: under the
// primary key, of concurrent inserts on one database exactly one row is
// written and every writer reads it.
func (s *Store) PutSendTokenKey(ctx context.Context, epoch uint64, key []byte) ([]byte, error) {
	e, err := store.EpochInt64(epoch)
	if err != nil {
		return nil, err
	}
	// A writer that lost the race sees no row in its own statement's
	// snapshot (ON CONFLICT DO NOTHING returns none), so it reads again.
	for range 3 {
		var stored []byte
		err := s.pool.QueryRow(ctx, `WITH ins AS (
				INSERT INTO send_token_keys (epoch, private_key) VALUES ($1, $2)
				ON CONFLICT (epoch) DO NOTHING RETURNING private_key
			)
			SELECT private_key FROM ins
			UNION ALL SELECT private_key FROM send_token_keys WHERE epoch = $1
			LIMIT 1`, e, nonNil(key)).Scan(&stored)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, wrap("put send token key", err)
		}
		return stored, nil
	}
	return nil, wrap("put send token key", errors.New("no key stored for the epoch"))
}

// SendTokenKeys implements store.SendTokens.
func (s *Store) SendTokenKeys(ctx context.Context, first, last uint64) (map[uint64][]byte, error) {
	lo, err := store.EpochInt64(first)
	if err != nil {
		return nil, err
	}
	hi, err := store.EpochInt64(last)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT epoch, private_key FROM send_token_keys WHERE epoch BETWEEN $1 AND $2`, lo, hi)
	if err != nil {
		return nil, wrap("read send token keys", err)
	}
	defer rows.Close()
	out := map[uint64][]byte{}
	for rows.Next() {
		var e int64
		var k []byte
		if err := rows.Scan(&e, &k); err != nil {
			return nil, wrap("read send token keys", err)
		}
		out[uint64(e)] = k
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("read send token keys", err)
	}
	return out, nil
}

// DeleteSendTokenState implements store.SendTokens.
func (s *Store) DeleteSendTokenState(ctx context.Context, keysBefore, countsBefore uint64) error {
	kb, err := store.EpochInt64(keysBefore)
	if err != nil {
		return err
	}
	cb, err := store.EpochInt64(countsBefore)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `WITH k AS (DELETE FROM send_token_keys WHERE epoch < $1)
		DELETE FROM send_token_counts WHERE epoch < $2`, kb, cb); err != nil {
		return wrap("delete send token state", err)
	}
	return nil
}

// AddSendTokens implements store.SendTokens: one upsert whose update only
// happens within the limit (the row lock orders concurrent adds); no row
// returned means refused.
func (s *Store) AddSendTokens(ctx context.Context, handle string, epoch uint64, n, limit int) (int, error) {
	e, err := store.EpochInt64(epoch)
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, fmt.Errorf("postgres: add send tokens: n %d below 1", n)
	}
	if n > limit {
		return 0, store.ErrSendTokenLimit
	}
	var total int
	err = s.pool.QueryRow(ctx, `INSERT INTO send_token_counts (handle, epoch, issued) VALUES ($1, $2, $3)
		ON CONFLICT (handle, epoch) DO UPDATE SET issued = send_token_counts.issued + excluded.issued
		WHERE send_token_counts.issued + excluded.issued <= $4
		RETURNING issued`, handle, e, n, limit).Scan(&total)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, store.ErrSendTokenLimit
	}
	if err != nil {
		return 0, wrap("add send tokens", err)
	}
	return total, nil
}

// ReturnSendTokens implements store.SendTokens.
func (s *Store) ReturnSendTokens(ctx context.Context, handle string, epoch uint64, n int) error {
	e, err := store.EpochInt64(epoch)
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("postgres: return send tokens: n %d below 1", n)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE send_token_counts SET issued = GREATEST(issued - $1, 0) WHERE handle = $2 AND epoch = $3`,
		n, handle, e); err != nil {
		return wrap("return send tokens", err)
	}
	return nil
}

// SendTokensIssued implements store.SendTokens.
func (s *Store) SendTokensIssued(ctx context.Context, handle string, epoch uint64) (int, error) {
	e, err := store.EpochInt64(epoch)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.pool.QueryRow(ctx, `SELECT issued FROM send_token_counts WHERE handle = $1 AND epoch = $2`, handle, e).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("read send token count", err)
	}
	return n, nil
}
