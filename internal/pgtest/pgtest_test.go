package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestWithParam(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=s&sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db?search_path=s"},
		{"postgres://u@h/db?search_path=old", "postgres://u@h/db?search_path=s"},
		{"host=h dbname=db", "host=h dbname=db search_path=s"},
	}
	for _, tc := range tests {
		if got := WithParam(t, tc.dsn, "search_path", "s"); got != tc.want {
			t.Errorf("WithParam(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}

func TestDSN(t *testing.T) {
	var schema string
	t.Run("inner", func(t *testing.T) {
		dsn := DSN(t)
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(t.Context(), `CREATE TABLE t (x int)`); err != nil {
			t.Fatalf("create a table in the fresh schema: %v", err)
		}
	})
	if schema == "" {
		t.Skip("no schema: PostgreSQL tests skipped")
	}
	conn, err := pgx.Connect(t.Context(), os.Getenv(EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("schema %s still exists after cleanup", schema)
	}
}
