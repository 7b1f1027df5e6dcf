package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sealpost/sealpost/client"
)

var backupCommand = &command{
	name:    "backup",
	usage:   "backup FILE",
	summary: "write an encrypted backup of the account",
	offline: true,
	help: `
Writes the account's backup to FILE (mode 0600), encrypted with age to a
backup passphrase asked twice on the terminal, or read from the first line
of --backup-passphrase-file. The backup holds the account key: anyone with
it and its passphrase can add devices to the account. An existing FILE is
refused unless --force. 'sealpost restore FILE' makes a new device from it.
Name it NAME.sealpost-backup (the repository's .gitignore leaves such files
out of git), and keep it off shared and synced folders.`,
	setup: func(flags *flag.FlagSet) runner {
		force := flags.Bool("force", false, "replace FILE if it exists")
		bpFile := flags.String("backup-passphrase-file", "", "read the backup passphrase from the first line of `file`")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, "FILE"); err != nil {
				return err
			}
			out, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			if !*force {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("%s exists; pass --force to replace it: %w", out, fs.ErrExist)
				}
			}
			return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
				bp, err := a.readPassphrase(passphraseSource{
					file: *bpFile, fileFlag: "--backup-passphrase-file",
					prompt: "Backup passphrase: ", confirm: true,
				})
				if err != nil {
					return err
				}
				defer clear(bp)
				if err := writeBackup(out, *force, func(f *os.File) error {
					return c.ExportBackup(ctx, f, bp)
				}); err != nil {
					return err
				}
				if a.json {
					a.emit(struct {
						File   string `json:"file"`
						Handle string `json:"handle"`
					}{out, c.Handle()})
					return nil
				}
				a.printf("Wrote the backup of %s to %s.\n", c.Handle(), out)
				return nil
			})
		}
	},
}

// writeBackup writes the backup file at path (writePrivateFile), replacing
// an existing one only with --force.
func writeBackup(path string, force bool, write func(*os.File) error) error {
	err := writePrivateFile(path, force, write)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; pass --force to replace it: %w", path, fs.ErrExist)
	}
	return err
}

// writePrivateFile writes a file at path with mode 0600 through write,
// whole or not at all: into a temporary file in the same directory,
// fsynced, then linked into place — a link never replaces, so an existing
// file gives an error wrapping fs.ErrExist — or, with replace, renamed
// over it.
func writePrivateFile(path string, replace bool, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sealpost-tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if replace {
		return os.Rename(tmp.Name(), path)
	}
	return os.Link(tmp.Name(), path)
}

var restoreCommand = &command{
	name:    "restore",
	usage:   "restore FILE",
	summary: "make a new device of the account from a backup",
	help: `
Creates a new store in DIR (which must not hold one) and registers a new
device of the account backed up in FILE. Asks for the backup's passphrase,
then (twice) for the new store's passphrase. --server, --relay, --pin and
--ca are as for init. Prints the new device's id.`,
	setup: func(flags *flag.FlagSet) runner {
		var sf serverFlags
		sf.bind(flags, false)
		bpFile := flags.String("backup-passphrase-file", "", "read the backup passphrase from the first line of `file`")
		return func(ctx context.Context, a *app, args []string) error {
			if err := wantArgs(args, 1, "FILE"); err != nil {
				return err
			}
			return a.runRestore(ctx, &sf, *bpFile, args[0])
		}
	},
}

func (a *app) runRestore(ctx context.Context, sf *serverFlags, bpFile, file string) error {
	fc, err := sf.config()
	if err != nil {
		return err
	}
	if err := checkFresh(a.dir); err != nil {
		return err
	}
	backup, err := os.Open(file)
	if err != nil {
		return err
	}
	defer backup.Close()
	bp, err := a.readPassphrase(passphraseSource{
		file: bpFile, fileFlag: "--backup-passphrase-file", prompt: "Backup passphrase: ",
	})
	if err != nil {
		return err
	}
	defer clear(bp)
	pass, err := a.storePassphrase(true)
	if err != nil {
		return err
	}
	defer clear(pass)
	if err := checkServers(ctx, fc); err != nil {
		return err
	}
	if err := saveConfig(a.dir, fc); err != nil {
		return err
	}
	cfg := a.clientConfig(fc)
	cfg.Passphrase = pass
	cfg.Create = true
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	c, err := client.Restore(rctx, cfg, backup, bp)
	if err != nil {
		if checkStoreFiles(a.dir) == nil {
			os.Remove(filepath.Join(a.dir, configFile))
			return err
		}
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
	a.printf("Restored %s as new device %d; the store is in %s.\n", res.Handle, res.Device, res.Dir)
	return nil
}
