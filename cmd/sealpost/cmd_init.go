package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/crypto/keys"
)

var initCommand = &command{
	name:    "init",
	usage:   "init HANDLE",
	summary: "create the store in DIR and register HANDLE",
	help: `
Creates the encrypted store in DIR, writes DIR/config.json (the server URLs
and TLS trust; nothing secret) and registers HANDLE (3 to 32 of a-z 0-9 . _ -)
with the key server as the account's first device. The passphrase is asked
twice on the terminal; an empty one is refused.

A self-signed sealpostd prints its certificate fingerprint at start:
  sealpost init --pin 5f1c...e2 alice
If registration fails after the store was created, remove DIR and run init
again.`,
	setup: func(fs *flag.FlagSet) runner {
		var sf serverFlags
		sf.bind(fs, true)
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, "HANDLE"); err != nil {
				return err
			}
			return a.runInit(ctx, &sf, args[0])
		}
	},
}

// newStoreConfig is the start of every command that makes a new store
// (init, link): DIR must hold none, the new store's passphrase is asked
// for (twice), and the servers are checked before the configuration is
// saved, so that a server that cannot be reached leaves nothing behind.
// The caller clears the returned Passphrase.
func (a *app) newStoreConfig(ctx context.Context, sf *serverFlags) (client.Config, error) {
	fc, err := sf.config()
	if err != nil {
		return client.Config{}, err
	}
	if err := checkFresh(a.dir); err != nil {
		return client.Config{}, err
	}
	pass, err := a.storePassphrase(true)
	if err != nil {
		return client.Config{}, err
	}
	if err := checkServers(ctx, fc); err != nil {
		clear(pass)
		return client.Config{}, err
	}
	if err := saveConfig(a.dir, fc); err != nil {
		clear(pass)
		return client.Config{}, err
	}
	cfg := a.clientConfig(fc)
	cfg.Passphrase = pass
	cfg.Create = true
	return cfg, nil
}

type initResult struct {
	Handle string `json:"handle"`
	Device uint32 `json:"device"`
	Dir    string `json:"dir"`
}

func (a *app) runInit(ctx context.Context, sf *serverFlags, handle string) error {
	if err := keys.CheckHandle(handle); err != nil {
		return usagef("handle %q: want 3 to 32 of a-z 0-9 . _ -", handle)
	}
	cfg, err := a.newStoreConfig(ctx, sf)
	if err != nil {
		return err
	}
	defer clear(cfg.Passphrase)
	cfg.Invite = sf.invite
	c, err := client.Open(ctx, cfg)
	if err != nil {
		// No usable store: take back the configuration so init can run
		// again, unless Open left a store behind.
		if checkStoreFiles(a.dir) == nil {
			os.Remove(filepath.Join(a.dir, configFile))
			return err
		}
		return &initIncomplete{dir: a.dir, err: err}
	}
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := c.Register(rctx, handle); err != nil {
		c.Close()
		return &initIncomplete{dir: a.dir, err: err}
	}
	res := initResult{Handle: c.Handle(), Device: c.DeviceID(), Dir: a.dir}
	if err := c.Close(); err != nil {
		return err
	}
	if a.json {
		a.emit(res)
		return nil
	}
	a.printf("Registered %s, device %d; the store is in %s.\n", res.Handle, res.Device, res.Dir)
	return nil
}

// initIncomplete is a failure after the store was created and before the
// account was registered (or a restore finished).
type initIncomplete struct {
	dir string
	err error
}

func (e *initIncomplete) Error() string {
	return fmt.Sprintf("%v; the store in %s was created but is not usable: remove %s and run the command again", e.err, e.dir, e.dir)
}

func (e *initIncomplete) Unwrap() error { return e.err }

// checkStoreFiles returns errStoreExists if dir holds any store file
// beside config.json.
func checkStoreFiles(dir string) error {
	for _, name := range []string{"state.db", "key.age"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return errStoreExists
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
