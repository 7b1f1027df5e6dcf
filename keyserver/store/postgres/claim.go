package postgres

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/keyserver/store"
)

// claimSQL claims for every eligible device of handle $1 in one statement,
// which PostgreSQL runs as one (implicit) transaction: one round trip.
//
// For each device and kind it locks the lowest-id one-time prekey it can
// (FOR UPDATE SKIP LOCKED, so concurrent claimers of one device take
// different keys instead of queueing on the lowest id), deletes it (by
// ctid: the row lock keeps the tuple where it is) and returns it, so a key
// is handed out only by the transaction that deletes it.
//
// SKIP LOCKED alone would be wrong at the end of the supply: a claimer
// could find every remaining key locked by claimers that then roll back,
// and hand out the fallback while keys remain. So where it locked nothing
// but its snapshot still shows keys of that device and kind (locked by
// others, or deleted by transactions that committed after the snapshot),
// the claim is contended: the statement deletes nothing, reports it, and
// ClaimPrekeys runs it again. Waiting on the locks instead (FOR UPDATE
// without SKIP LOCKED) would deadlock: two claimers can each hold the last
// key of one kind and want the other's.
//
// The result has one row per eligible device (id, certificate, signed,
// last resort, one-time X25519 or NULL, one-time KEM or NULL, contended),
// one row with a NULL id for an account with no eligible device, and no
// row for an unknown handle. The statement never waits for a row lock.
const claimSQL = `WITH dev AS MATERIALIZED (
	SELECT d.id, d.certificate, d.signed, d.last_resort FROM devices d
	WHERE d.handle = $1 AND d.revocation IS NULL AND d.signed IS NOT NULL AND d.last_resort IS NOT NULL
), want AS MATERIALIZED (
	SELECT dev.id AS device, k.kind FROM dev CROSS JOIN (VALUES (0::smallint), (1::smallint)) AS k (kind)
), skipped AS MATERIALIZED (
	SELECT p.device, p.kind, p.ctid FROM want CROSS JOIN LATERAL (
		SELECT q.device, q.kind, q.ctid FROM prekeys q
		WHERE q.handle = $1 AND q.device = want.device AND q.kind = want.kind
		ORDER BY q.id LIMIT 1 FOR UPDATE SKIP LOCKED) p
), contended AS MATERIALIZED (
	SELECT EXISTS (SELECT 1 FROM want
		WHERE NOT EXISTS (SELECT 1 FROM skipped s WHERE s.device = want.device AND s.kind = want.kind)
		AND EXISTS (SELECT 1 FROM prekeys q WHERE q.handle = $1 AND q.device = want.device AND q.kind = want.kind)) AS yes
), taken AS (
	DELETE FROM prekeys x
	WHERE x.ctid = ANY (ARRAY(SELECT ctid FROM skipped)) AND NOT (SELECT yes FROM contended)
	RETURNING x.device, x.kind, x.encoded
)
SELECT dev.id, dev.certificate, dev.signed, dev.last_resort,
	(SELECT t.encoded FROM taken t WHERE t.device = dev.id AND t.kind = 0),
	(SELECT t.encoded FROM taken t WHERE t.device = dev.id AND t.kind = 1),
	(SELECT yes FROM contended)
FROM accounts a LEFT JOIN dev ON true WHERE a.handle = $1 ORDER BY dev.id`

// Backoff between attempts of a contended claim.
const (
	claimBackoffMin = 100 * time.Microsecond
	claimBackoffMax = 10 * time.Millisecond
)

// ClaimPrekeys implements store.Store. A contended claim (see claimSQL)
// changed nothing; it is tried again after a short randomised backoff
// until it is not, or ctx ends.
func (s *Store) ClaimPrekeys(ctx context.Context, handle string) ([]store.Claimed, error) {
	backoff := claimBackoffMin
	for {
		out, contended, err := s.claimBatched(ctx, handle)
		if err != nil || !contended {
			return out, err
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, wrap("claim", ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, claimBackoffMax)
	}
}

func (s *Store) claimOnce(ctx context.Context, handle string) (out []store.Claimed, contended bool, err error) {
	rows, err := s.pool.Query(ctx, claimSQL, handle)
	if err != nil {
		return nil, false, wrap("claim", err)
	}
	return scanClaim(rows)
}

// scanClaim reads the result of claimSQL.
func scanClaim(rows pgx.Rows) (out []store.Claimed, contended bool, err error) {
	defer rows.Close()
	found := false
	for rows.Next() {
		found = true
		var (
			id   *int64
			c    store.Claimed
			last []byte
			kem  []byte
		)
		if err := rows.Scan(&id, &c.Certificate, &c.Signed, &last, &c.OneTime, &kem, &contended); err != nil {
			return nil, false, wrap("claim", err)
		}
		if id == nil {
			continue // the account has no eligible device
		}
		c.Device = uint32(*id)
		c.KEM, c.KEMOneTime = last, false
		if kem != nil {
			c.KEM, c.KEMOneTime = kem, true
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, wrap("claim", err)
	}
	if !found {
		return nil, false, store.ErrNotFound
	}
	if contended {
		return nil, true, nil
	}
	return out, false, nil
}
