package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

// pgCluster is a private PostgreSQL cluster for one test, which the test
// may stop and start: the machine's shared PostgreSQL, which other tests
// use at the same time, is never touched. It lives in a temporary
// directory, listens on 127.0.0.1 on a free port and on a unix socket in
// that directory, and trusts every local connection.
type pgCluster struct {
	t    *testing.T
	bin  string // PostgreSQL's bin directory
	dir  string // data/, the socket, the log
	port int
	cred *syscall.Credential // the user PostgreSQL runs as, if not us
}

// newPGCluster creates and starts a private cluster with initdb and
// pg_ctl from the PostgreSQL installation (pg_config --bindir, else the
// newest /usr/lib/postgresql/*/bin). PostgreSQL refuses to run as root:
// as root it runs as the postgres user (else nobody).
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	c := &pgCluster{t: t, bin: pgBinDir(t)}
	dir, err := os.MkdirTemp("", "sealpost-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		// Immediate: the test is over; then the files go.
		c.pgctl("stop", "-m", "immediate", "-w") //nolint:errcheck // may be stopped already
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		name := "postgres"
		u, err := user.Lookup(name)
		if err != nil {
			if u, err = user.Lookup("nobody"); err != nil {
				t.Fatalf("PostgreSQL will not run as root and there is no postgres or nobody user: %v", err)
			}
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.port = freePort(t)
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "-N", "--no-instructions"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.start()
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// DSN is the connection string of the cluster's postgres database.
func (c *pgCluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", c.port)
}

// start starts the cluster and waits until it accepts connections.
func (c *pgCluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", c.port, c.dir)
	if out, err := c.pgctl("start", "-w", "-t", "30", "-o", opts, "-l", filepath.Join(c.dir, "log")); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		c.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// stop stops the cluster (fast: sessions are ended) and waits for it.
func (c *pgCluster) stop() {
	c.t.Helper()
	if out, err := c.pgctl("stop", "-m", "fast", "-w", "-t", "30"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (c *pgCluster) pgctl(args ...string) ([]byte, error) {
	return c.run("pg_ctl", append([]string{"-D", c.data()}, args...)...)
}

// run runs one of PostgreSQL's programs as the cluster's user.
func (c *pgCluster) run(prog string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, prog), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

// pgBinDir finds PostgreSQL's server programs.
func pgBinDir(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := string(out[:len(out)-1])
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir
		}
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		t.Fatal("no PostgreSQL server programs (initdb, pg_ctl): install PostgreSQL, or run with -short")
	}
	slices.SortFunc(found, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	return filepath.Dir(found[len(found)-1])
}

// freePort is a TCP port on 127.0.0.1 free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
