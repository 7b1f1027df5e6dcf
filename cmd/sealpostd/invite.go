package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// runInvite prints a new invite code, opening the store directly; it may
// run while the server does.
func runInvite(ctx context.Context, cfg *Config, log *slog.Logger, stdout io.Writer) (err error) {
	if err := prepareDataDir(cfg.DataDir, log); err != nil {
		return err
	}
	tokenKey, logKey, err := loadSigningKeys(cfg, log)
	if err != nil {
		return err
	}
	st, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeWith(&err, "closing the store", st.Close)
	// No VRF key: this short-lived server only adds an invite and must not
	// sequence directory epochs beside the running one.
	ks, err := newKeyServer(cfg, st, tokenKey, logKey, nil, log, nil)
	if err != nil {
		return err
	}
	defer closeWith(&err, "closing the key server", ks.Close)
	code, err := ks.AddInvite(ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, code)
	return err
}
