package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/keyserver/store"
)

// PutSendTokenKey implements store.SendTokens: the primary key on epoch
// keeps the first key written.
func (s *Store) PutSendTokenKey(ctx context.Context, epoch uint64, key []byte) ([]byte, error) {
	e, err := store.EpochInt64(epoch)
	if err != nil {
		return nil, err
	}
	var stored []byte
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO send_token_keys (epoch, private_key) VALUES (?, ?)
			ON CONFLICT (epoch) DO NOTHING`, e, nonNil(key)); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT private_key FROM send_token_keys WHERE epoch = ?`, e).Scan(&stored)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: put send token key: %w", err)
	}
	return stored, nil
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
	out := map[uint64][]byte{}
	err = s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT epoch, private_key FROM send_token_keys WHERE epoch BETWEEN ? AND ?`, lo, hi)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e int64
			var k []byte
			if err := rows.Scan(&e, &k); err != nil {
				return err
			}
			out[uint64(e)] = k
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: read send token keys: %w", err)
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
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM send_token_keys WHERE epoch < ?`, kb); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM send_token_counts WHERE epoch < ?`, cb)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete send token state: %w", err)
	}
	return nil
}

// AddSendTokens implements store.SendTokens: one upsert whose update only
// happens within the limit; no row returned means refused.
func (s *Store) AddSendTokens(ctx context.Context, handle string, epoch uint64, n, limit int) (int, error) {
	e, err := store.EpochInt64(epoch)
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, fmt.Errorf("sqlite: add send tokens: n %d below 1", n)
	}
	if n > limit {
		return 0, store.ErrSendTokenLimit
	}
	var total int
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO send_token_counts (handle, epoch, issued) VALUES (?, ?, ?)
			ON CONFLICT (handle, epoch) DO UPDATE SET issued = issued + excluded.issued
			WHERE send_token_counts.issued + excluded.issued <= ?
			RETURNING issued`, handle, e, n, limit).Scan(&total)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrSendTokenLimit
		}
		return err
	})
	if errors.Is(err, store.ErrSendTokenLimit) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: add send tokens: %w", err)
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
		return fmt.Errorf("sqlite: return send tokens: n %d below 1", n)
	}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE send_token_counts SET issued = max(issued - ?, 0) WHERE handle = ? AND epoch = ?`, n, handle, e)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: return send tokens: %w", err)
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
	err = s.read(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT issued FROM send_token_counts WHERE handle = ? AND epoch = ?`, handle, e).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			n = 0
			return nil
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: read send token count: %w", err)
	}
	return n, nil
}
