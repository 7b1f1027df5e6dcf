package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/blobs/meta"
)

// uploadColumns are the columns queryUploads reads, in its order: the
// upload row and its parts as arrays, in one statement (one snapshot).
const uploadColumns = `id, account, size, digest, part_size, key, handle, committed, hash_state, created_ns, expires_ns,
	ARRAY(SELECT number FROM blobs_parts p WHERE p.upload_id = u.id ORDER BY number),
	ARRAY(SELECT size FROM blobs_parts p WHERE p.upload_id = u.id ORDER BY number),
	ARRAY(SELECT tag FROM blobs_parts p WHERE p.upload_id = u.id ORDER BY number)`

// queryUploads returns the uploads selected by where (with args), parts
// included.
func queryUploads(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, where string, args ...any) ([]meta.Upload, error) {
	rows, err := q.Query(ctx, `SELECT `+uploadColumns+` FROM blobs_uploads u `+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.Upload, error) {
		var u meta.Upload
		var id, digest []byte
		var created, expires int64
		var numbers []int32
		var sizes []int64
		var tags []string
		if err := r.Scan(&id, &u.Account, &u.Size, &digest, &u.PartSize, &u.Key, &u.Handle,
			&u.Offset, &u.HashState, &created, &expires, &numbers, &sizes, &tags); err != nil {
			return meta.Upload{}, err
		}
		if err := errors.Join(copy32(&u.ID, id), copy32(&u.Digest, digest)); err != nil {
			return meta.Upload{}, err
		}
		if len(sizes) != len(numbers) || len(tags) != len(numbers) {
			return meta.Upload{}, errors.New("parts arrays of different lengths")
		}
		for i, n := range numbers {
			u.Parts = append(u.Parts, meta.Part{Number: int(n), Size: sizes[i], Tag: tags[i]})
		}
		u.Created, u.Expires = fromNanos(created), fromNanos(expires)
		return u, nil
	})
}

// accountLock takes the transaction-scoped advisory lock of the account
// in the current schema (see the package comment).
const accountLock = `SELECT pg_advisory_xact_lock(hashtextextended('sealpost/blobs/account/' || current_schema() || '/' || $1, 0))`

// CreateUpload records u if the account's usage stays within lim, under the
// account's lock.
func (s *Store) CreateUpload(ctx context.Context, u meta.Upload, lim meta.Limits, now time.Time) error {
	if u.Size <= 0 || u.PartSize <= 0 {
		return fmt.Errorf("postgres: create upload: size %d, part size %d: not positive", u.Size, u.PartSize)
	}
	return s.write(ctx, "create upload", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, accountLock, u.Account); err != nil {
			return err
		}
		use, err := usage(ctx, tx, u.Account, now)
		if err != nil {
			return err
		}
		if use.OpenUploads >= lim.MaxOpenUploads || use.Stored+use.Open > lim.Quota-u.Size {
			return meta.ErrQuota
		}
		hs := u.HashState
		if hs == nil {
			hs = []byte{}
		}
		_, err = tx.Exec(ctx, `INSERT INTO blobs_uploads
			(id, account, size, digest, part_size, key, handle, hash_state, created_ns, expires_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			u.ID[:], u.Account, u.Size, u.Digest[:], u.PartSize, u.Key, u.Handle, hs,
			nanos(u.Created), nanos(u.Expires))
		return err
	})
}

// Upload returns the account's unexpired upload.
func (s *Store) Upload(ctx context.Context, account string, id [32]byte, now time.Time) (meta.Upload, error) {
	us, err := queryUploads(ctx, s.pool, `WHERE id = $1 AND account = $2 AND expires_ns > $3`, id[:], account, nanos(now))
	if err != nil {
		return meta.Upload{}, wrap("upload", err)
	}
	if len(us) == 0 {
		return meta.Upload{}, meta.ErrNotFound
	}
	return us[0], nil
}

// lease is an upload row's lease and offset.
type lease struct {
	offset  int64
	token   []byte
	until   int64
	expires int64
}

// lockLease reads the upload's lease in tx, locking its row, or returns
// meta.ErrNotFound.
func lockLease(ctx context.Context, tx pgx.Tx, id [32]byte) (lease, error) {
	var l lease
	err := tx.QueryRow(ctx, `SELECT committed, lease_token, lease_until_ns, expires_ns FROM blobs_uploads
		WHERE id = $1 FOR UPDATE`, id[:]).Scan(&l.offset, &l.token, &l.until, &l.expires)
	return l, notFound(err)
}

// Lease takes the upload's lease for token until `until`.
func (s *Store) Lease(ctx context.Context, id [32]byte, offset int64, token [16]byte, until, now time.Time) error {
	return s.write(ctx, "lease", func(tx pgx.Tx) error {
		l, err := lockLease(ctx, tx, id)
		switch {
		case err != nil:
			return err
		case l.expires <= nanos(now):
			return meta.ErrNotFound
		case l.until > nanos(now) && !bytes.Equal(l.token, token[:]):
			return meta.ErrBusy
		case l.offset != offset:
			return meta.ErrOffset
		}
		_, err = tx.Exec(ctx, `UPDATE blobs_uploads SET lease_token = $1, lease_until_ns = $2 WHERE id = $3`,
			token[:], nanos(until), id[:])
		return err
	})
}

// Release drops the lease token holds.
func (s *Store) Release(ctx context.Context, id [32]byte, token [16]byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE blobs_uploads SET lease_token = '', lease_until_ns = 0
		WHERE id = $1 AND lease_token = $2`, id[:], token[:])
	return wrap("release", err)
}

// ReleaseNode drops the leases whose token begins with node.
func (s *Store) ReleaseNode(ctx context.Context, node [8]byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE blobs_uploads SET lease_token = '', lease_until_ns = 0
		WHERE length(lease_token) = 16 AND substring(lease_token from 1 for 8) = $1`, node[:])
	return wrap("release node", err)
}

// CommitPart appends p to the upload held under token, in one
// transaction.
func (s *Store) CommitPart(ctx context.Context, id [32]byte, token [16]byte, offset int64, p meta.Part, hashState []byte, expires time.Time) error {
	if hashState == nil {
		hashState = []byte{}
	}
	return s.write(ctx, "commit part", func(tx pgx.Tx) error {
		l, err := lockLease(ctx, tx, id)
		switch {
		case err != nil:
			return err
		case !bytes.Equal(l.token, token[:]):
			return meta.ErrBusy
		case l.offset != offset:
			return meta.ErrOffset
		}
		if _, err := tx.Exec(ctx, `INSERT INTO blobs_parts (upload_id, number, size, tag) VALUES ($1, $2, $3, $4)`,
			id[:], p.Number, p.Size, p.Tag); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE blobs_uploads SET committed = $1, hash_state = $2, expires_ns = $3,
			lease_token = '', lease_until_ns = 0 WHERE id = $4`,
			offset+p.Size, hashState, nanos(expires), id[:])
		return err
	})
}

// CompleteUpload turns the upload into blob b in one transaction.
func (s *Store) CompleteUpload(ctx context.Context, uploadID [32]byte, b meta.Blob) error {
	return s.write(ctx, "complete upload", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM blobs_uploads WHERE id = $1 AND account = $2`, uploadID[:], b.Account)
		if err := changed(tag, err); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO blobs_blobs (`+blobColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			b.ID[:], b.Account, b.Size, b.Digest[:], b.Key, nanos(b.Created), nanos(b.Expires))
		return err
	})
}

// DeleteUpload removes an upload and its parts.
func (s *Store) DeleteUpload(ctx context.Context, id [32]byte) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM blobs_uploads WHERE id = $1`, id[:])
	return wrap("delete upload", changed(tag, err))
}
