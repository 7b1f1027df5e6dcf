// Package pgpool opens the PostgreSQL connection pools of Sealpost's
// storage engines (the key server's and the relay's) the same way: the
// DSN's settings with our defaults for pool size, connect timeout and
// synchronous_commit, a first connection that must answer, and the
// engine's migrations applied before the pool is handed out.
package pgpool

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealpost/sealpost/internal/migrate"
)

// Config parses dsn (a URL or keyword/value string that pgx accepts) and
// applies the defaults the DSN does not set itself: maxConns connections,
// connectTimeout per connection attempt (so an unreachable server is an
// error, not a hang), and synchronous_commit=on (a commit returns after
// its WAL is flushed). Errors never show the password.
func Config(dsn string, maxConns int32, connectTimeout time.Duration) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts any password from the message.
		return nil, fmt.Errorf("postgres: bad DSN: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = maxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["synchronous_commit"]; !ok {
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	}
	return cfg, nil
}

// Open creates the pool, checks that the server answers, and applies the
// migrations of component (internal/migrate.Postgres).
func Open(ctx context.Context, cfg *pgxpool.Config, component string, ms []migrate.Migration) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	err = migrate.Postgres(ctx, conn.Conn(), component, ms)
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return pool, nil
}
