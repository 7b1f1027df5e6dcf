package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sealpost/sealpost/keyserver/kt/vmap"
	"github.com/sealpost/sealpost/keyserver/store"
)

// The key transparency v2 directory (spec/transparency-v2.md §4.7), in the
// tables of migrations/0003_directory.sql. Every query goes through pgx's
// per-connection statement cache, so the hot one, MapNode (about 20 per
// lookup proof), is a prepared statement and one index probe.

// sequencerLock names the session advisory lock Sequencer takes: the lock
// key is hashtextextended(sequencerLock || current_schema(), 0), the
// scheme of the migration lock (internal/migrate). Key server processes
// sharing a schema exclude each other; those of another schema (another
// deployment, or a test) do not.
const sequencerLock = "sealpost/keyserver/kt-sequencer/"

// nodeQuery reads a node's version at an epoch: one probe of the primary
// key (depth, prefix, epoch).
const nodeQuery = `SELECT epoch, hash, version, commitment, left_depth, left_prefix, left_hash,
		right_depth, right_prefix, right_hash
	FROM vmap_nodes WHERE depth = $1 AND prefix = $2 AND epoch <= $3 ORDER BY epoch DESC LIMIT 1`

// unsequencedQuery reads the accounts waiting for the sequencer, through
// the partial index accounts_unsequenced, with their devices.
const unsequencedQuery = `SELECT a.handle, a.account_key, a.version, a.log_index, a.created,
		d.id, d.certificate, d.revocation
	FROM (SELECT handle, account_key, version, log_index, created FROM accounts
		WHERE version > sequenced_version ORDER BY handle LIMIT $1) a
	LEFT JOIN devices d ON d.handle = a.handle
	ORDER BY a.handle, d.id`

// maxEpoch bounds the epochs a read asks for: bigint is signed.
const maxEpoch = 1<<63 - 1

// LatestEpoch implements store.Store.
func (s *Store) LatestEpoch(ctx context.Context) (uint64, error) {
	var e int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(epoch), 0) FROM vmap_roots`).Scan(&e); err != nil {
		return 0, wrap("latest epoch", err)
	}
	return uint64(e), nil
}

// MapNode implements store.Store with one probe of the primary key
// (depth, prefix, epoch).
func (s *Store) MapNode(ctx context.Context, l vmap.Label, epoch uint64) (vmap.Node, error) {
	var r store.NodeRow
	err := s.pool.QueryRow(ctx, nodeQuery,
		int16(l.Depth), l.Prefix[:], int64(min(epoch, maxEpoch))).
		Scan(&r.Epoch, &r.Hash, &r.Version, &r.Commitment, &r.LeftDepth, &r.LeftPrefix, &r.LeftHash, &r.RightDepth, &r.RightPrefix, &r.RightHash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return vmap.Node{}, store.NotFound(fmt.Sprintf("postgres: map node (%d, %x) at epoch %d", l.Depth, l.Prefix, epoch))
	case err != nil:
		return vmap.Node{}, wrap("read map node", err)
	}
	n, ok := r.Node(l)
	if !ok {
		return vmap.Node{}, fmt.Errorf("postgres: map node (%d, %x) at epoch %d is corrupt", l.Depth, l.Prefix, n.Epoch)
	}
	return n, nil
}

// MapRoot implements store.Store.
func (s *Store) MapRoot(ctx context.Context, epoch uint64) (vmap.Root, error) {
	if epoch == 0 || epoch > maxEpoch {
		return vmap.Root{}, store.NotFound(fmt.Sprintf("postgres: map root of epoch %d", epoch))
	}
	r := vmap.Root{Epoch: epoch}
	var (
		depth        *int16
		prefix, hash []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT top_depth, top_prefix, hash FROM vmap_roots WHERE epoch = $1`, int64(epoch)).
		Scan(&depth, &prefix, &hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return vmap.Root{}, store.NotFound(fmt.Sprintf("postgres: map root of epoch %d", epoch))
	case err != nil:
		return vmap.Root{}, wrap("read map root", err)
	}
	if depth == nil {
		r.Empty = true
		return r, nil
	}
	r.Top.Label.Depth = uint16(*depth)
	if !store.CopyExact(r.Top.Label.Prefix[:], prefix) || !store.CopyExact(r.Top.Hash[:], hash) {
		return vmap.Root{}, fmt.Errorf("postgres: map root of epoch %d is corrupt", epoch)
	}
	return r, nil
}

// CommitEpoch implements store.Store in one transaction. Its first write
// is the epoch's vmap_roots row: a second process committing the same
// epoch waits on that row's primary key until the first commits, then
// fails with a unique violation (ErrConflict), so two sequencers can never
// both commit an epoch, with or without the Sequencer lock.
func (s *Store) CommitEpoch(ctx context.Context, c store.EpochCommit) error {
	if err := store.CheckEpochCommit(&c); err != nil {
		return err
	}
	e := int64(c.Root.Epoch)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var latest int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(epoch), 0) FROM vmap_roots`).Scan(&latest); err != nil {
			return wrap("latest epoch", err)
		}
		if e != latest+1 {
			return fmt.Errorf("postgres: commit of epoch %d after %d: %w", e, latest, store.ErrConflict)
		}
		if err := insertRoot(ctx, tx, &c.Root); err != nil {
			return err
		}
		if err := insertVRF(ctx, tx, c.NewVRF); err != nil {
			return err
		}
		if err := insertVersions(ctx, tx, c.Versions); err != nil {
			return err
		}
		if err := insertNodes(ctx, tx, c.Nodes); err != nil {
			return err
		}
		return appendEpochLeaf(ctx, tx, e, c.Leaf, c.Batch)
	})
}

func insertRoot(ctx context.Context, tx pgx.Tx, r *vmap.Root) error {
	var (
		depth  *int16
		prefix []byte
	)
	if !r.Empty {
		d := int16(r.Top.Label.Depth)
		depth, prefix = &d, r.Top.Label.Prefix[:]
	}
	h := r.Hash()
	_, err := tx.Exec(ctx, `INSERT INTO vmap_roots (epoch, top_depth, top_prefix, hash) VALUES ($1, $2, $3, $4)`,
		int64(r.Epoch), depth, prefix, h[:])
	if uniqueViolation(err, "") {
		return fmt.Errorf("postgres: epoch %d committed concurrently: %w", r.Epoch, store.ErrConflict)
	}
	if err != nil {
		return wrap("store map root", err)
	}
	return nil
}

func insertVRF(ctx context.Context, tx pgx.Tx, vs []store.VRFEntry) error {
	if len(vs) == 0 {
		return nil
	}
	handles := make([]string, len(vs))
	idx := make([][]byte, len(vs))
	proofs := make([][]byte, len(vs))
	for i := range vs {
		handles[i], idx[i], proofs[i] = vs[i].Handle, vs[i].Index[:], nonNil(vs[i].Proof)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO kt_vrf (handle, idx, proof)
		SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) ON CONFLICT (handle) DO NOTHING`, handles, idx, proofs)
	if err != nil {
		return wrap("store VRF entries", err)
	}
	if tag.RowsAffected() != int64(len(vs)) {
		return fmt.Errorf("postgres: a handle of the epoch already has a VRF entry: %w", store.ErrConflict)
	}
	return nil
}

// insertVersions checks that each version follows the handle's last one
// and that its account has reached it, stores them, and records each as
// its account's last sequenced version.
func insertVersions(ctx context.Context, tx pgx.Tx, vs []store.SequencedVersion) error {
	if len(vs) == 0 {
		return nil
	}
	handles := make([]string, len(vs))
	versions := make([]int64, len(vs))
	for i := range vs {
		handles[i], versions[i] = vs[i].Handle, int64(vs[i].Version)
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (handle) handle, seq, version FROM kt_versions
		WHERE handle = ANY($1) ORDER BY handle, seq DESC`, handles)
	if err != nil {
		return wrap("read last versions", err)
	}
	type last struct{ seq, version int64 }
	lasts := make(map[string]last, len(vs))
	var (
		h string
		l last
	)
	if _, err := pgx.ForEachRow(rows, []any{&h, &l.seq, &l.version}, func() error {
		lasts[h] = l
		return nil
	}); err != nil {
		return wrap("read last versions", err)
	}
	for _, v := range vs {
		l := lasts[v.Handle]
		if v.Seq != uint64(l.seq)+1 {
			return fmt.Errorf("postgres: %q seq %d version %d after seq %d version %d: %w",
				v.Handle, v.Seq, v.Version, l.seq, l.version, store.ErrConflict)
		}
	}
	// Rows locked in handle order, as every writer of several accounts
	// does, so two such writers cannot deadlock.
	order := slices.Clone(vs)
	slices.SortFunc(order, func(a, b store.SequencedVersion) int { return strings.Compare(a.Handle, b.Handle) })
	for i := range order {
		handles[i], versions[i] = order[i].Handle, int64(order[i].Version)
	}
	tag, err := tx.Exec(ctx, `UPDATE accounts a SET sequenced_version = u.v
		FROM unnest($1::text[], $2::bigint[]) AS u(h, v) WHERE a.handle = u.h AND a.version >= u.v`, handles, versions)
	if err != nil {
		return wrap("mark accounts sequenced", err)
	}
	if tag.RowsAffected() != int64(len(vs)) {
		return fmt.Errorf("postgres: a sequenced version is above its account's (or the account is missing): %w", store.ErrConflict)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"kt_versions"}, []string{"handle", "seq", "version", "epoch", "opening", "entry"},
		pgx.CopyFromSlice(len(vs), func(i int) ([]any, error) {
			v := &vs[i]
			return []any{v.Handle, int64(v.Seq), int64(v.Version), int64(v.Epoch), v.Opening[:], nonNil(v.Entry)}, nil
		}))
	if err != nil {
		return wrap("store versions", err)
	}
	return nil
}

// nodeColumns are the columns of vmap_nodes in the order insertNodes
// copies them.
var nodeColumns = []string{"depth", "prefix", "epoch", "hash", "version", "commitment",
	"left_depth", "left_prefix", "left_hash", "right_depth", "right_prefix", "right_hash"}

// insertNodes copies the epoch's nodes in (COPY, one round trip for the
// lot); a label twice is refused.
func insertNodes(ctx context.Context, tx pgx.Tx, nodes []vmap.Node) error {
	if len(nodes) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"vmap_nodes"}, nodeColumns,
		pgx.CopyFromSlice(len(nodes), func(i int) ([]any, error) {
			n := &nodes[i]
			row := []any{int16(n.Label.Depth), n.Label.Prefix[:], int64(n.Epoch), n.Hash[:], nil, nil, nil, nil, nil, nil, nil, nil}
			if n.IsLeaf() {
				row[4], row[5] = int64(n.Value.Version), n.Value.Commitment[:]
			} else {
				c := &n.Children
				row[6], row[7], row[8] = int16(c[0].Label.Depth), c[0].Label.Prefix[:], c[0].Hash[:]
				row[9], row[10], row[11] = int16(c[1].Label.Depth), c[1].Label.Prefix[:], c[1].Hash[:]
			}
			return row, nil
		}))
	if uniqueViolation(err, "") {
		return fmt.Errorf("postgres: a map node twice in one epoch: %w", store.ErrInvalid)
	}
	if err != nil {
		return wrap("store map nodes", err)
	}
	return nil
}

// appendEpochLeaf stores the batch of epoch e and appends leaf at index
// e-1 of the epoch log with its tlog hashes (as appendLeaf does for the v1
// log), in one round trip.
func appendEpochLeaf(ctx context.Context, tx pgx.Tx, e int64, leaf, batch []byte) error {
	n := e - 1
	hashes, err := store.LeafHashes(ctx, func(ctx context.Context, idx []int64) ([]tlog.Hash, error) {
		return readTableHashes(ctx, tx, "kt_log_hashes", idx)
	}, n, leaf)
	if err != nil {
		return err
	}
	idx := make([]int64, len(hashes))
	vals := make([][]byte, len(hashes))
	first := tlog.StoredHashIndex(0, n)
	for i := range hashes {
		idx[i] = first + int64(i)
		vals[i] = hashes[i][:]
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO kt_batches (epoch, batch) VALUES ($1, $2)`, e, batch)
	b.Queue(`INSERT INTO kt_log_leaves (idx, leaf) VALUES ($1, $2)`, n, leaf)
	b.Queue(`INSERT INTO kt_log_hashes (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, idx, vals)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return wrap("append epoch leaf", err)
	}
	return nil
}

// EpochLeaves implements store.Store.
func (s *Store) EpochLeaves(ctx context.Context, start, end int64) ([][]byte, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("postgres: bad epoch leaf range [%d, %d)", start, end)
	}
	if start == end {
		n, err := s.LatestEpoch(ctx)
		if err != nil {
			return nil, err
		}
		if uint64(end) > n {
			return nil, fmt.Errorf("postgres: epoch leaves [%d, %d) beyond the log size %d", start, end, n)
		}
		return nil, nil
	}
	return readLeaves(ctx, s.pool, "kt_log_leaves", start, end)
}

// EpochHashes implements store.Store; an index not stored is an error.
func (s *Store) EpochHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return readTableHashes(ctx, s.pool, "kt_log_hashes", indexes)
}

// EpochBatch implements store.Store.
func (s *Store) EpochBatch(ctx context.Context, epoch uint64) ([]byte, error) {
	if epoch > maxEpoch {
		return nil, fmt.Errorf("postgres: batch of epoch %d: %w", epoch, store.ErrNotFound)
	}
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT batch FROM kt_batches WHERE epoch = $1`, int64(epoch)).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: batch of epoch %d: %w", epoch, store.ErrNotFound)
	}
	if err != nil {
		return nil, wrap("read batch", err)
	}
	return b, nil
}

// VRF implements store.Store.
func (s *Store) VRF(ctx context.Context, handle string) (store.VRFEntry, error) {
	v := store.VRFEntry{Handle: handle}
	var idx []byte
	err := s.pool.QueryRow(ctx, `SELECT idx, proof FROM kt_vrf WHERE handle = $1`, handle).Scan(&idx, &v.Proof)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.VRFEntry{}, fmt.Errorf("postgres: VRF entry of %q: %w", handle, store.ErrNotFound)
	case err != nil:
		return store.VRFEntry{}, wrap("read VRF entry", err)
	case !store.CopyExact(v.Index[:], idx):
		return store.VRFEntry{}, fmt.Errorf("postgres: VRF entry of %q is corrupt", handle)
	}
	return v, nil
}

// History implements store.Store.
func (s *Store) History(ctx context.Context, handle string) ([]store.SequencedVersion, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, version, epoch, opening, entry FROM kt_versions WHERE handle = $1 ORDER BY seq`, handle)
	if err != nil {
		return nil, wrap("read history", err)
	}
	var (
		vs                  []store.SequencedVersion
		seq, version, epoch int64
		opening, entry      []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&seq, &version, &epoch, &opening, &entry}, func() error {
		v := store.SequencedVersion{Handle: handle, Seq: uint64(seq), Version: uint64(version), Epoch: uint64(epoch), Entry: entry}
		if !store.CopyExact(v.Opening[:], opening) {
			return fmt.Errorf("postgres: history of %q: stored opening has %d bytes", handle, len(opening))
		}
		vs = append(vs, v)
		return nil
	})
	if err != nil {
		return nil, wrap("read history", err)
	}
	return vs, nil
}

// Unsequenced implements store.Store: the accounts come from the partial
// index accounts_unsequenced, with their devices, in one statement (one
// snapshot).
func (s *Store) Unsequenced(ctx context.Context, limit int) ([]*store.Account, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: unsequenced accounts: limit %d: %w", limit, store.ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, unsequencedQuery, limit)
	if err != nil {
		return nil, wrap("unsequenced accounts", err)
	}
	var (
		out       []*store.Account
		handle    string
		key       []byte
		version   int64
		logIndex  int64
		created   time.Time
		id        *int64
		cert, rev []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&handle, &key, &version, &logIndex, &created, &id, &cert, &rev}, func() error {
		if len(out) == 0 || out[len(out)-1].Handle != handle {
			a := &store.Account{Handle: handle, Version: uint64(version), LogIndex: logIndex, Created: created.UTC()}
			if !store.CopyExact(a.AccountKey[:], key) {
				return fmt.Errorf("postgres: account %q: stored key has %d bytes", handle, len(key))
			}
			out = append(out, a)
		}
		if id != nil {
			a := out[len(out)-1]
			a.Devices = append(a.Devices, store.Device{ID: uint32(*id), Certificate: cert, Revocation: rev})
		}
		return nil
	})
	if err != nil {
		return nil, wrap("unsequenced accounts", err)
	}
	return out, nil
}

// unlockTimeout bounds the release of the sequencer lock.
const unlockTimeout = 10 * time.Second

// Sequencer implements store.Store: pg_try_advisory_lock on one connection
// taken from the pool, which stays out of the pool, holding the lock, until
// release unlocks it and returns the connection. If the unlock fails the
// connection is closed instead, which ends the session and its lock. A
// connection lost while held loses the lock too; CommitEpoch's primary key
// on the epoch still keeps a second sequencer from committing an epoch
// twice. Close releases the locks held when it is called.
func (s *Store) Sequencer(ctx context.Context) (release func(), ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, wrap("sequencer: connect", err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1 || current_schema(), 0))`,
		sequencerLock).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, wrap("sequencer: lock", err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	var once sync.Once
	token := new(byte) // this lock's key in s.held
	release = func() {
		once.Do(func() {
			s.heldMu.Lock()
			delete(s.held, token)
			s.heldMu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
			defer cancel()
			var unlocked bool
			err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock(hashtextextended($1 || current_schema(), 0))`,
				sequencerLock).Scan(&unlocked)
			if err != nil || !unlocked {
				conn.Hijack().Close(ctx) //nolint:errcheck // closing ends the session and its locks
				return
			}
			conn.Release()
		})
	}
	s.heldMu.Lock()
	if s.held == nil {
		s.held = map[*byte]func(){}
	}
	s.held[token] = release
	s.heldMu.Unlock()
	return release, true, nil
}

// releaseSequencers releases the sequencer locks still held, so that Close
// (which waits for every connection to return to the pool) does not wait
// for them; a holder's own release is then a no-op.
func (s *Store) releaseSequencers() {
	s.heldMu.Lock()
	var rs []func()
	for _, r := range s.held {
		rs = append(rs, r)
	}
	s.heldMu.Unlock()
	for _, r := range rs {
		r()
	}
}
