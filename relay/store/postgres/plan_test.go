package postgres_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/relay/store/postgres"
)

// TestPushPlans: the push statements find a mailbox's newest envelope and
// its first one after woken through relay_envelopes_pkey (address, id),
// walking it per registration and never reading a queue (push.go,
// newMail), before the tables have statistics and after; a PendingWakes
// page starts in relay_push_pkey where the last one ended.
func TestPushPlans(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn)
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	exec := func(q string) {
		t.Helper()
		if _, err := c.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// 2000 registered mailboxes of 50 envelopes, a third of them expired
	// at 500; woken covers 40 or all of them.
	exec(`INSERT INTO relay_mailboxes (address, created_ns) SELECT int4send(i), 0 FROM generate_series(1, 2000) i`)
	exec(`INSERT INTO relay_envelopes (address, id, data, size, arrived_ns, expiry_ns)
		SELECT int4send(i), j, '\x00', 1, j, CASE WHEN j % 3 = 0 THEN 10 ELSE 1000 END
		FROM generate_series(1, 2000) i, generate_series(1, 50) j`)
	exec(`INSERT INTO relay_push (address, gen, kind, endpoint, woken)
		SELECT int4send(i), i, 2, 'https://push.example/', CASE WHEN i % 2 = 0 THEN 50 ELSE 40 END
		FROM generate_series(1, 2000) i`)
	addrs := [][]byte{{0, 0, 0, 1}, {0, 0, 0, 3}}
	cases := []struct {
		name string
		args []any
		want []string
	}{
		{"claim", []any{addrs, 500}, []string{
			"Index Only Scan Backward using relay_envelopes_pkey on relay_envelopes",
			"Index Scan using relay_envelopes_pkey on relay_envelopes",
			"Index Cond: ((address = p.address) AND (id > p.woken))",
		}},
		{"later", []any{addrs, 500, []int64{1}}, []string{
			"Index Scan using relay_envelopes_pkey on relay_envelopes",
			"Index Cond: ((address = p.address) AND (id > p.woken))",
		}},
		{"pending", []any{nil, 500, 1000}, []string{
			"Index Scan using relay_envelopes_pkey on relay_envelopes",
			"Index Cond: ((address = p.address) AND (id > p.woken))",
		}},
		{"pending", []any{[]byte{0, 0, 3}, 500, 1000}, []string{
			"Index Cond: (address >= ", // or ((address >= ... AND ...)
			"Index Scan using relay_envelopes_pkey on relay_envelopes",
			"Index Cond: ((address = p.address) AND (id > p.woken))",
		}},
	}
	// Without statistics, with them, and with plans for any parameters
	// (a prepared statement's generic plan).
	for _, pass := range []string{"unanalyzed", "analyzed", "generic"} {
		switch pass {
		case "analyzed":
			exec(`ANALYZE`)
		case "generic":
			exec(`SET plan_cache_mode = force_generic_plan`)
		}
		for i, tc := range cases {
			explain := "EXPLAIN " + postgres.PushStatements[tc.name]
			if pass == "generic" {
				// EXPLAIN of a statement plans it for its parameters'
				// values; a prepared one's generic plan takes none.
				exec(fmt.Sprintf("PREPARE plan%d AS %s", i, postgres.PushStatements[tc.name]))
				ps := make([]string, len(tc.args))
				for j, a := range tc.args {
					ps[j] = literal(a)
				}
				explain = fmt.Sprintf("EXPLAIN EXECUTE plan%d(%s)", i, strings.Join(ps, ", "))
			}
			args := tc.args
			if pass == "generic" {
				args = nil
			}
			rows, err := c.Query(t.Context(), explain, args...)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			plan := strings.Join(lines, "\n")
			for _, w := range tc.want {
				if !strings.Contains(strings.ReplaceAll(plan, "((", "("), strings.ReplaceAll(w, "((", "(")) {
					t.Errorf("%s (%s): plan lacks %q:\n%s", tc.name, pass, w, plan)
				}
			}
			for _, bad := range []string{"Seq Scan on relay_envelopes", "Bitmap Heap Scan on relay_envelopes",
				"Join", "relay_envelopes_expiry"} {
				if strings.Contains(plan, bad) {
					t.Errorf("%s (%s): plan has %q:\n%s", tc.name, pass, bad, plan)
				}
			}
		}
	}
}

// literal returns a, an argument of the push statements, as an SQL
// literal (EXECUTE takes no parameters).
func literal(a any) string {
	switch a := a.(type) {
	case nil:
		return "NULL"
	case int:
		return fmt.Sprint(a)
	case []byte:
		return fmt.Sprintf(`'\\x%x'::bytea`, a)
	case [][]byte:
		s := make([]string, len(a))
		for i, b := range a {
			s[i] = literal(b)
		}
		return "ARRAY[" + strings.Join(s, ", ") + "]"
	case []int64:
		s := make([]string, len(a))
		for i, n := range a {
			s[i] = fmt.Sprint(n)
		}
		return "ARRAY[" + strings.Join(s, ", ") + "]::bigint[]"
	}
	panic(fmt.Sprintf("literal of %T", a))
}
