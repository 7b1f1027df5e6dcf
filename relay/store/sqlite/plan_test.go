package sqlite

import (
	"slices"
	"strings"
	"testing"
)

// TestPushPlans: the push queries find a mailbox's newest envelope and
// its first one after woken through envelopes_addr_id, never by reading
// its queue (stmts.go, pushOwedSQL), and a PendingWakes page starts in
// the push index where the last one ended.
func TestPushPlans(t *testing.T) {
	q := openTemp(t)
	for _, c := range []struct {
		name string
		sql  string
		args []any
		want []string
	}{
		{"owed", pushOwedSQL, []any{`["0162"]`, 1}, []string{
			"SEARCH p USING INDEX sqlite_autoindex_push_1 (addr=?)",
			"SEARCH e EXISTS USING INDEX envelopes_addr_id (addr=? AND id>?)",
			"SEARCH e USING COVERING INDEX envelopes_addr_id (addr=?)",
		}},
		{"pending", readSQL[readPendingWakes], []any{[]byte{1}, 1, 10}, []string{
			"SEARCH p USING INDEX sqlite_autoindex_push_1 (addr>?)",
			"SEARCH e EXISTS USING INDEX envelopes_addr_id (addr=? AND id>?)",
		}},
	} {
		rows, err := q.w.Query("EXPLAIN QUERY PLAN "+c.sql, c.args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		rows.Close()
		for _, w := range c.want {
			if !slices.Contains(plan, w) {
				t.Errorf("%s: plan lacks %q:\n%s", c.name, w, strings.Join(plan, "\n"))
			}
		}
		for _, l := range plan {
			if strings.Contains(l, "SCAN e") || strings.Contains(l, "envelopes_expiry") {
				t.Errorf("%s: plan reads envelopes without the (addr, id) index: %q", c.name, l)
			}
		}
	}
}
