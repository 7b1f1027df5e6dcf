package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/internal/pgtest"
)

// TestDirectoryQueryPlans checks that the directory's frequent queries can
// be index probes: MapNode (about 20 per lookup proof) on the primary key
// of vmap_nodes, Unsequenced on the partial index of unsequenced accounts.
// Sequential scans are disabled for the check, since on the test's empty
// tables the planner would rightly prefer them; what matters is that the
// index fits the query.
func TestDirectoryQueryPlans(t *testing.T) {
	s, err := Open(t.Context(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := s.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(t.Context(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), `RESET enable_seqscan`) //nolint:errcheck // the pool's connection goes back either way
	for _, tc := range []struct {
		query string
		args  []any
		want  string
	}{
		{nodeQuery, []any{int16(256), []byte{1}, int64(5)}, "Index Scan Backward using vmap_nodes_pkey on vmap_nodes"},
		{unsequencedQuery, []any{10}, "using accounts_unsequenced on accounts"},
	} {
		rows, err := conn.Query(t.Context(), "EXPLAIN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if plan := strings.Join(lines, "\n"); !strings.Contains(plan, tc.want) {
			t.Errorf("plan of %.40q…:\n%s\nwant %q", tc.query, plan, tc.want)
		}
	}
}
