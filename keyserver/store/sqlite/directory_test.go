package sqlite

import (
	"strings"
	"testing"
)

// TestDirectoryQueryPlans checks that the directory's frequent queries are
// index probes, not scans: MapNode (about 20 per lookup proof) on the
// label index, Unsequenced on the partial index of unsequenced accounts.
func TestDirectoryQueryPlans(t *testing.T) {
	s := openTemp(t)
	for _, tc := range []struct {
		query string
		args  []any
		index string
	}{
		{nodeQuery, []any{256, []byte{1}, 5}, "USING INDEX vmap_nodes_label (depth=? AND prefix=? AND epoch<?)"},
		// Scanning the partial index reads only accounts waiting.
		{unsequencedQuery, []any{10}, "SCAN accounts USING INDEX accounts_unsequenced"},
	} {
		rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		rest := strings.Replace(text, tc.index, "", 1)
		if !strings.Contains(text, tc.index) || strings.Contains(rest, "SCAN accounts") || strings.Contains(rest, "SCAN vmap_nodes") {
			t.Errorf("plan of %.40q… is %q, want it to use %s", tc.query, text, tc.index)
		}
	}
}
