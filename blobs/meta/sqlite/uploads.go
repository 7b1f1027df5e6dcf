package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/blobs/meta"
)

// uploadColumns are the columns queryUploads reads, in its order.
const uploadColumns = `id, account, size, digest, part_size, key, handle, committed, hash_state, created_ns, expires_ns`

// queryUploads returns the uploads selected by where (with args) and their
// parts.
func queryUploads(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]meta.Upload, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+uploadColumns+` FROM blobs_uploads `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var us []meta.Upload
	for rows.Next() {
		var u meta.Upload
		var id, digest []byte
		var created, expires int64
		if err := rows.Scan(&id, &u.Account, &u.Size, &digest, &u.PartSize, &u.Key, &u.Handle,
			&u.Offset, &u.HashState, &created, &expires); err != nil {
			return nil, err
		}
		if err := errors.Join(copy32(&u.ID, id), copy32(&u.Digest, digest)); err != nil {
			return nil, err
		}
		u.Created, u.Expires = fromNanos(created), fromNanos(expires)
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i := range us {
		if us[i].Parts, err = parts(ctx, tx, us[i].ID); err != nil {
			return nil, err
		}
	}
	return us, nil
}

// parts returns the upload's committed parts in order.
func parts(ctx context.Context, tx *sql.Tx, id [32]byte) ([]meta.Part, error) {
	rows, err := tx.QueryContext(ctx, `SELECT number, size, tag FROM blobs_parts WHERE upload_id = ? ORDER BY number`, id[:])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []meta.Part
	for rows.Next() {
		var p meta.Part
		if err := rows.Scan(&p.Number, &p.Size, &p.Tag); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// CreateUpload records u if the account's usage stays within lim, reading
// the usage and inserting in one write transaction.
func (s *Store) CreateUpload(ctx context.Context, u meta.Upload, lim meta.Limits, now time.Time) error {
	if u.Size <= 0 || u.PartSize <= 0 {
		return fmt.Errorf("sqlite: create upload: size %d, part size %d: not positive", u.Size, u.PartSize)
	}
	return s.write(ctx, "create upload", func(tx *sql.Tx) error {
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
		_, err = tx.ExecContext(ctx, `INSERT INTO blobs_uploads
			(id, account, size, digest, part_size, key, handle, hash_state, created_ns, expires_ns)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID[:], u.Account, u.Size, u.Digest[:], u.PartSize, u.Key, u.Handle, hs,
			nanos(u.Created), nanos(u.Expires))
		return err
	})
}

// Upload returns the account's unexpired upload.
func (s *Store) Upload(ctx context.Context, account string, id [32]byte, now time.Time) (meta.Upload, error) {
	var u meta.Upload
	err := s.read(ctx, "upload", func(tx *sql.Tx) error {
		us, err := queryUploads(ctx, tx, `WHERE id = ? AND account = ? AND expires_ns > ?`, id[:], account, nanos(now))
		if err != nil {
			return err
		}
		if len(us) == 0 {
			return meta.ErrNotFound
		}
		u = us[0]
		return nil
	})
	return u, err
}

// lease is an upload row's lease and offset.
type lease struct {
	offset  int64
	token   []byte
	until   int64
	expires int64
}

// readLease reads the upload's lease in tx, or returns meta.ErrNotFound.
func readLease(ctx context.Context, tx *sql.Tx, id [32]byte) (lease, error) {
	var l lease
	err := tx.QueryRowContext(ctx, `SELECT committed, lease_token, lease_until_ns, expires_ns FROM blobs_uploads WHERE id = ?`, id[:]).
		Scan(&l.offset, &l.token, &l.until, &l.expires)
	if errors.Is(err, sql.ErrNoRows) {
		return lease{}, meta.ErrNotFound
	}
	return l, err
}

// Lease takes the upload's lease for token until `until`.
func (s *Store) Lease(ctx context.Context, id [32]byte, offset int64, token [16]byte, until, now time.Time) error {
	return s.write(ctx, "lease", func(tx *sql.Tx) error {
		l, err := readLease(ctx, tx, id)
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
		_, err = tx.ExecContext(ctx, `UPDATE blobs_uploads SET lease_token = ?, lease_until_ns = ? WHERE id = ?`,
			token[:], nanos(until), id[:])
		return err
	})
}

// Release drops the lease token holds.
func (s *Store) Release(ctx context.Context, id [32]byte, token [16]byte) error {
	return s.write(ctx, "release", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE blobs_uploads SET lease_token = x'', lease_until_ns = 0
			WHERE id = ? AND lease_token = ?`, id[:], token[:])
		return err
	})
}

// ReleaseNode drops the leases whose token begins with node.
func (s *Store) ReleaseNode(ctx context.Context, node [8]byte) error {
	return s.write(ctx, "release node", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE blobs_uploads SET lease_token = x'', lease_until_ns = 0
			WHERE length(lease_token) = 16 AND substr(lease_token, 1, 8) = ?`, node[:])
		return err
	})
}

// CommitPart appends p to the upload held under token, in one
// transaction.
func (s *Store) CommitPart(ctx context.Context, id [32]byte, token [16]byte, offset int64, p meta.Part, hashState []byte, expires time.Time) error {
	if hashState == nil {
		hashState = []byte{}
	}
	return s.write(ctx, "commit part", func(tx *sql.Tx) error {
		l, err := readLease(ctx, tx, id)
		switch {
		case err != nil:
			return err
		case !bytes.Equal(l.token, token[:]):
			return meta.ErrBusy
		case l.offset != offset:
			return meta.ErrOffset
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO blobs_parts (upload_id, number, size, tag) VALUES (?, ?, ?, ?)`,
			id[:], p.Number, p.Size, p.Tag); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE blobs_uploads SET committed = ?, hash_state = ?, expires_ns = ?,
			lease_token = x'', lease_until_ns = 0 WHERE id = ?`,
			offset+p.Size, hashState, nanos(expires), id[:])
		return err
	})
}

// CompleteUpload turns the upload into blob b in one transaction.
func (s *Store) CompleteUpload(ctx context.Context, uploadID [32]byte, b meta.Blob) error {
	return s.write(ctx, "complete upload", func(tx *sql.Tx) error {
		if err := changed(tx.ExecContext(ctx, `DELETE FROM blobs_uploads WHERE id = ? AND account = ?`,
			uploadID[:], b.Account)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO blobs_blobs (`+blobColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			b.ID[:], b.Account, b.Size, b.Digest[:], b.Key, nanos(b.Created), nanos(b.Expires))
		return err
	})
}

// DeleteUpload removes an upload and its parts.
func (s *Store) DeleteUpload(ctx context.Context, id [32]byte) error {
	return s.write(ctx, "delete upload", func(tx *sql.Tx) error {
		return changed(tx.ExecContext(ctx, `DELETE FROM blobs_uploads WHERE id = ?`, id[:]))
	})
}
