package postgres

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/sealpost/sealpost/keyserver/store"
)

// claimSQL runs a group of claims in one statement, which PostgreSQL runs
// as one (implicit) transaction: one round trip and one commit for the
// group, no BEGIN or COMMIT of its own. $1 holds one handle per claim, in
// order; a handle may appear several times (a popular account), and each
// of its claims gets keys of its own.
//
// For each eligible device and kind of a handle claimed n times it locks
// up to n one-time prekeys, lowest ids first (FOR UPDATE SKIP LOCKED, so
// concurrent statements take different keys instead of queueing on the
// lowest ids), numbers them, and gives the i-th to the handle's i-th claim
// (req.nth); it deletes every key it gives (by primary key: the row lock
// keeps the row where it is) and returns them, so a key is handed out only
// by the transaction that deletes it.
//
// SKIP LOCKED alone would be wrong at the end of the supply: a claim could
// find every remaining key locked by others that then roll back, and hand
// out the fallback while keys remain. So a claim left without a key of a
// device and kind for which the snapshot still shows more keys than the
// statement locked (locked by others, or deleted by transactions that
// committed after the snapshot) is contended: it gets and deletes nothing,
// the statement reports it, and ClaimPrekeys runs it again. A claim that
// finds no more keys than the earlier claims of its handle in the group
// took falls back, as a lone claim of the last key's successor would.
// Waiting on the locks instead (FOR UPDATE without SKIP LOCKED) would
// deadlock: two claimers can each hold the last key of one kind and want
// the other's.
//
// The result has, for each claim (ord, from 1, ascending), one row per
// eligible device (ord, account found, device id, certificate, signed,
// last resort, one-time X25519 or NULL, one-time KEM or NULL, contended),
// or one row with a NULL device id when the account has no eligible device
// or (found false) the handle is unknown. The statement never waits for a
// row lock.
const claimSQL = `WITH req AS MATERIALIZED (
	SELECT r.ord, r.handle, row_number() OVER (PARTITION BY r.handle ORDER BY r.ord) AS nth
	FROM unnest($1::text[]) WITH ORDINALITY AS r (handle, ord)
), hc AS MATERIALIZED (
	SELECT req.handle, count(*) AS n FROM req GROUP BY req.handle
), dev AS MATERIALIZED (
	SELECT d.handle, d.id, d.certificate, d.signed, d.last_resort FROM hc JOIN devices d ON d.handle = hc.handle
	WHERE d.revocation IS NULL AND d.signed IS NOT NULL AND d.last_resort IS NOT NULL
), want AS MATERIALIZED (
	SELECT dev.handle, dev.id AS device, k.kind, hc.n FROM dev JOIN hc ON hc.handle = dev.handle
	CROSS JOIN (VALUES (0::smallint), (1::smallint)) AS k (kind)
), locked AS MATERIALIZED (
	SELECT want.handle, want.device, want.kind, p.id, row_number() OVER (PARTITION BY want.handle, want.device, want.kind ORDER BY p.id) AS nth
	FROM want CROSS JOIN LATERAL (
		SELECT q.id FROM prekeys q
		WHERE q.handle = want.handle AND q.device = want.device AND q.kind = want.kind
		ORDER BY q.id LIMIT want.n FOR UPDATE SKIP LOCKED) p
), short AS MATERIALIZED (
	SELECT w.handle, w.got FROM (
		SELECT want.*, (SELECT count(*) FROM locked l WHERE l.handle = want.handle AND l.device = want.device AND l.kind = want.kind) AS got
		FROM want) w
	WHERE w.got < w.n AND (SELECT count(*) FROM (SELECT 1 FROM prekeys q
		WHERE q.handle = w.handle AND q.device = w.device AND q.kind = w.kind LIMIT w.got + 1) v) > w.got
), contended AS MATERIALIZED (
	SELECT DISTINCT req.ord FROM req JOIN short s ON s.handle = req.handle WHERE req.nth > s.got
), given AS MATERIALIZED (
	SELECT l.handle, l.device, l.kind, l.id, l.nth FROM locked l
	JOIN req ON req.handle = l.handle AND req.nth = l.nth
	WHERE NOT EXISTS (SELECT 1 FROM contended c WHERE c.ord = req.ord)
), taken AS (
	DELETE FROM prekeys x USING given g
	WHERE x.handle = g.handle AND x.device = g.device AND x.kind = g.kind AND x.id = g.id
	RETURNING x.handle, x.device, x.kind, g.nth, x.encoded
)
SELECT req.ord, a.handle IS NOT NULL, dev.id, dev.certificate, dev.signed, dev.last_resort,
	(SELECT t.encoded FROM taken t WHERE t.handle = req.handle AND t.device = dev.id AND t.kind = 0 AND t.nth = req.nth),
	(SELECT t.encoded FROM taken t WHERE t.handle = req.handle AND t.device = dev.id AND t.kind = 1 AND t.nth = req.nth),
	EXISTS (SELECT 1 FROM contended c WHERE c.ord = req.ord)
FROM req LEFT JOIN accounts a ON a.handle = req.handle LEFT JOIN dev ON dev.handle = a.handle
ORDER BY req.ord, dev.id`

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

// claimGroup runs claimSQL for the claims of batch and sets each one's
// result. On an error (returned) nothing was claimed and no result is set.
func (s *Store) claimGroup(ctx context.Context, batch []*claimReq) error {
	handles := make([]string, len(batch))
	for i, r := range batch {
		handles[i] = r.handle
	}
	rows, err := s.claimPool.Query(ctx, claimSQL, handles)
	if err != nil {
		return wrap("claim", err)
	}
	defer rows.Close()
	type result struct {
		out       []store.Claimed
		found     bool
		contended bool
	}
	res := make([]result, len(batch))
	for rows.Next() {
		var (
			ord       int64
			found     bool
			id        *int64
			c         store.Claimed
			last, kem []byte
			contended bool
		)
		if err := rows.Scan(&ord, &found, &id, &c.Certificate, &c.Signed, &last, &c.OneTime, &kem, &contended); err != nil {
			return wrap("claim", err)
		}
		if ord < 1 || ord > int64(len(batch)) {
			return wrap("claim", errBadClaimRow)
		}
		r := &res[ord-1]
		r.found, r.contended = found, contended
		if id == nil {
			continue // unknown, or an account with no eligible device
		}
		c.Device = uint32(*id)
		c.KEM, c.KEMOneTime = last, false
		if kem != nil {
			c.KEM, c.KEMOneTime = kem, true
		}
		r.out = append(r.out, c)
	}
	if err := rows.Err(); err != nil {
		return wrap("claim", err)
	}
	// The statement has committed: from here every claim gets its result.
	for i, r := range batch {
		switch {
		case !res[i].found:
			r.out, r.contended, r.err = nil, false, store.ErrNotFound
		case res[i].contended:
			r.out, r.contended, r.err = nil, true, nil
		default:
			r.out, r.contended, r.err = res[i].out, false, nil
		}
	}
	return nil
}
