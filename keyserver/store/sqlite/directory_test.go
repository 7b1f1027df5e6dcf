package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/internal/migrate"
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

// TestDirectoryMigration opens a database made before the directory
// (migrations 0001 and 0002) with an account in it: after the directory
// migration the account is waiting for the sequencer, as every account
// registered under version 1 of the log must be.
func TestDirectoryMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyserver.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 3 || ms[2].Name != "0003_directory.sql" {
		t.Fatalf("%d migrations, the third not 0003_directory.sql", len(ms))
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.SQLite(t.Context(), db, ms[:2]); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO accounts (handle, account_key, version, log_index, created) VALUES ('old', zeroblob(32), 3, 2, 0)`,
		`INSERT INTO devices (handle, id, certificate) VALUES ('old', 1, x'01')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	as, err := s.Unsequenced(t.Context(), 10)
	if err != nil || len(as) != 1 || as[0].Handle != "old" || as[0].Version != 3 || len(as[0].Devices) != 1 {
		t.Fatalf("Unsequenced after the migration = %d accounts, %v; want old at version 3", len(as), err)
	}
}
