package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/blobs/meta"
)

// blobColumns are the columns scanBlob reads, in its order.
const blobColumns = `id, account, size, digest, key, created_ns, expires_ns`

// scanBlob reads a row of blobColumns.
func scanBlob(row interface{ Scan(...any) error }) (meta.Blob, error) {
	var b meta.Blob
	var id, digest []byte
	var created, expires int64
	if err := row.Scan(&id, &b.Account, &b.Size, &digest, &b.Key, &created, &expires); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return meta.Blob{}, meta.ErrNotFound
		}
		return meta.Blob{}, err
	}
	if err := copy32(&b.ID, id); err != nil {
		return meta.Blob{}, err
	}
	if err := copy32(&b.Digest, digest); err != nil {
		return meta.Blob{}, err
	}
	b.Created, b.Expires = fromNanos(created), fromNanos(expires)
	return b, nil
}

// copy32 copies a 32-byte column into dst.
func copy32(dst *[32]byte, b []byte) error {
	if len(b) != len(dst) {
		return fmt.Errorf("column of %d bytes, want %d", len(b), len(dst))
	}
	copy(dst[:], b)
	return nil
}

// FindBlob returns the account's unexpired blob with this size and digest
// (spec/attachments.md §4.3).
func (s *Store) FindBlob(ctx context.Context, account string, size int64, digest [32]byte, now time.Time) (meta.Blob, error) {
	var b meta.Blob
	err := s.read(ctx, "find blob", func(tx *sql.Tx) (err error) {
		b, err = scanBlob(tx.QueryRowContext(ctx, `SELECT `+blobColumns+` FROM blobs_blobs
			WHERE account = ? AND size = ? AND digest = ? AND expires_ns > ?
			ORDER BY expires_ns DESC LIMIT 1`, account, size, digest[:], nanos(now)))
		return err
	})
	return b, err
}

// ExtendBlob moves the blob's expiry to expires if that is later.
func (s *Store) ExtendBlob(ctx context.Context, id [32]byte, expires, now time.Time) error {
	return s.write(ctx, "extend blob", func(tx *sql.Tx) error {
		return changed(tx.ExecContext(ctx, `UPDATE blobs_blobs SET expires_ns = max(expires_ns, ?) WHERE id = ? AND expires_ns > ?`,
			nanos(expires), id[:], nanos(now)))
	})
}

// Blob returns an unexpired blob.
func (s *Store) Blob(ctx context.Context, id [32]byte, now time.Time) (meta.Blob, error) {
	var b meta.Blob
	err := s.read(ctx, "blob", func(tx *sql.Tx) (err error) {
		b, err = scanBlob(tx.QueryRowContext(ctx, `SELECT `+blobColumns+` FROM blobs_blobs
			WHERE id = ? AND expires_ns > ?`, id[:], nanos(now)))
		return err
	})
	return b, err
}

// DeleteBlob removes a blob row.
func (s *Store) DeleteBlob(ctx context.Context, id [32]byte) error {
	return s.write(ctx, "delete blob", func(tx *sql.Tx) error {
		return changed(tx.ExecContext(ctx, `DELETE FROM blobs_blobs WHERE id = ?`, id[:]))
	})
}

// Usage returns the account's usage at now.
func (s *Store) Usage(ctx context.Context, account string, now time.Time) (meta.Usage, error) {
	var u meta.Usage
	err := s.read(ctx, "usage", func(tx *sql.Tx) (err error) {
		u, err = usage(ctx, tx, account, now)
		return err
	})
	return u, err
}

// usage reads the account's usage at now in tx.
func usage(ctx context.Context, tx *sql.Tx, account string, now time.Time) (meta.Usage, error) {
	var u meta.Usage
	err := tx.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(SUM(size), 0) FROM blobs_blobs WHERE account = ?1 AND expires_ns > ?2),
		COALESCE(SUM(size), 0), COUNT(*)
		FROM blobs_uploads WHERE account = ?1 AND expires_ns > ?2`, account, nanos(now)).
		Scan(&u.Stored, &u.Open, &u.OpenUploads)
	return u, err
}

// Expired returns up to limit blobs and up to limit uploads expired at now,
// soonest expired first; uploads whose lease is held past now are left
// out.
func (s *Store) Expired(ctx context.Context, now time.Time, limit int) ([]meta.Blob, []meta.Upload, error) {
	if limit <= 0 {
		return nil, nil, nil
	}
	var bs []meta.Blob
	var us []meta.Upload
	err := s.read(ctx, "expired", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+blobColumns+` FROM blobs_blobs
			WHERE expires_ns <= ? ORDER BY expires_ns, id LIMIT ?`, nanos(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBlob(rows)
			if err != nil {
				return err
			}
			bs = append(bs, b)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		us, err = queryUploads(ctx, tx, `WHERE expires_ns <= ?1 AND lease_until_ns <= ?1
			ORDER BY expires_ns, id LIMIT ?2`, nanos(now), limit)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return bs, us, nil
}
