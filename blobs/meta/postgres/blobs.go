package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/blobs/meta"
)

// blobColumns are the columns scanBlob reads, in its order.
const blobColumns = `id, account, size, digest, key, created_ns, expires_ns`

// scanBlob reads a row of blobColumns.
func scanBlob(row pgx.Row) (meta.Blob, error) {
	var b meta.Blob
	var id, digest []byte
	var created, expires int64
	if err := row.Scan(&id, &b.Account, &b.Size, &digest, &b.Key, &created, &expires); err != nil {
		return meta.Blob{}, notFound(err)
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

// FindBlob returns the account's unexpired blob with this size and digest
// (spec/attachments.md §4.3).
func (s *Store) FindBlob(ctx context.Context, account string, size int64, digest [32]byte, now time.Time) (meta.Blob, error) {
	b, err := scanBlob(s.pool.QueryRow(ctx, `SELECT `+blobColumns+` FROM blobs_blobs
		WHERE account = $1 AND size = $2 AND digest = $3 AND expires_ns > $4
		ORDER BY expires_ns DESC LIMIT 1`, account, size, digest[:], nanos(now)))
	return b, wrap("find blob", err)
}

// ExtendBlob moves the blob's expiry to expires if that is later.
func (s *Store) ExtendBlob(ctx context.Context, id [32]byte, expires, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE blobs_blobs SET expires_ns = greatest(expires_ns, $1) WHERE id = $2 AND expires_ns > $3`,
		nanos(expires), id[:], nanos(now))
	return wrap("extend blob", changed(tag, err))
}

// Blob returns an unexpired blob.
func (s *Store) Blob(ctx context.Context, id [32]byte, now time.Time) (meta.Blob, error) {
	b, err := scanBlob(s.pool.QueryRow(ctx, `SELECT `+blobColumns+` FROM blobs_blobs
		WHERE id = $1 AND expires_ns > $2`, id[:], nanos(now)))
	return b, wrap("blob", err)
}

// DeleteBlob removes a blob row.
func (s *Store) DeleteBlob(ctx context.Context, id [32]byte) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM blobs_blobs WHERE id = $1`, id[:])
	return wrap("delete blob", changed(tag, err))
}

// usageQuery sums an account's ($1) usage at $2 in one statement, so one
// snapshot: bytes moving from an upload to a blob count once.
const usageQuery = `SELECT
	(SELECT COALESCE(SUM(size), 0)::bigint FROM blobs_blobs WHERE account = $1 AND expires_ns > $2),
	COALESCE(SUM(size), 0)::bigint, COUNT(*)
	FROM blobs_uploads WHERE account = $1 AND expires_ns > $2`

// Usage returns the account's usage at now.
func (s *Store) Usage(ctx context.Context, account string, now time.Time) (meta.Usage, error) {
	u, err := usage(ctx, s.pool, account, now)
	return u, wrap("usage", err)
}

// usage reads the account's usage at now through q.
func usage(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, account string, now time.Time) (meta.Usage, error) {
	var u meta.Usage
	var n int64
	err := q.QueryRow(ctx, usageQuery, account, nanos(now)).Scan(&u.Stored, &u.Open, &n)
	u.OpenUploads = int(n)
	return u, err
}

// Expired returns up to limit blobs and up to limit uploads expired at now,
// soonest expired first; uploads whose lease is held past now are left
// out.
func (s *Store) Expired(ctx context.Context, now time.Time, limit int) ([]meta.Blob, []meta.Upload, error) {
	if limit <= 0 {
		return nil, nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+blobColumns+` FROM blobs_blobs
		WHERE expires_ns <= $1 ORDER BY expires_ns, id LIMIT $2`, nanos(now), limit)
	if err != nil {
		return nil, nil, wrap("expired", err)
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.Blob, error) { return scanBlob(r) })
	if err != nil {
		return nil, nil, wrap("expired", err)
	}
	us, err := queryUploads(ctx, s.pool, `WHERE expires_ns <= $1 AND lease_until_ns <= $1
		ORDER BY expires_ns, id LIMIT $2`, nanos(now), limit)
	if err != nil {
		return nil, nil, wrap("expired", err)
	}
	return bs, us, nil
}
