package postgres_test

import (
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/store"
)

// A claim must not hand out the fallback while a one-time prekey remains
// that another transaction merely holds locked: if that transaction rolls
// back, the claim gets the key; if it deletes the key, the claim falls back.
func TestClaimNoFallbackWhileLastKeyLocked(t *testing.T) {
	for _, holderCommits := range []bool{false, true} {
		name := map[bool]string{false: "holder rolls back", true: "holder deletes"}[holderCommits]
		t.Run(name, func(t *testing.T) {
			dsn := pgtest.DSN(t)
			s := open(t, dsn)
			ctx := t.Context()
			must(t, "create", err2(create(ctx, s, "alice")))
			must(t, "upload", s.UploadPrekeys(ctx, store.Upload{
				Handle: "alice", Device: 1, MaxOneTime: 10,
				Signed:     &store.Prekey{ID: 1, Encoded: []byte("signed")},
				LastResort: &store.Prekey{ID: 2, Encoded: []byte("last resort")},
				OneTime:    []store.Prekey{{ID: 7, Encoded: []byte("the last one")}},
			}))

			holder := connect(t, dsn)
			tx, err := holder.Begin(ctx)
			must(t, "begin", err)
			_, err = tx.Exec(ctx, `SELECT 1 FROM prekeys WHERE kind = 0 FOR UPDATE`)
			must(t, "lock", err)

			type result struct {
				cs  []store.Claimed
				err error
			}
			done := make(chan result, 1)
			go func() {
				cs, err := s.ClaimPrekeys(ctx, "alice")
				done <- result{cs, err}
			}()
			select {
			case r := <-done:
				t.Fatalf("claim returned while the last key was locked: %+v, %v", r.cs, r.err)
			case <-time.After(300 * time.Millisecond):
			}
			if holderCommits {
				_, err = tx.Exec(ctx, `DELETE FROM prekeys WHERE kind = 0`)
				must(t, "delete", err)
				must(t, "commit", tx.Commit(ctx))
			} else {
				must(t, "rollback", tx.Rollback(ctx))
			}
			r := <-done
			must(t, "claim", r.err)
			if len(r.cs) != 1 {
				t.Fatalf("%d claims", len(r.cs))
			}
			got, want := string(r.cs[0].OneTime), "the last one"
			if holderCommits {
				want = ""
			}
			if got != want {
				t.Fatalf("claimed one-time prekey %q, want %q", got, want)
			}
		})
	}
}
