package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/postgres"
	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/tlsconfig"
)

// childEnv, when set, makes the tool a relay child of --herd: its value is
// a childSpec in JSON. The relay runs in a process of its own so that it
// can be stopped (SIGTERM: graceful shutdown) or killed (SIGKILL: a crash)
// and started again on the same store and address, and so that the herd's
// client sockets and the relay's do not share one open-files limit.
const childEnv = "SEALPOST_BENCH_RELAY_CHILD"

type childSpec struct {
	Dir           string `json:"dir"` // TLS certificate and relay.db
	Addr          string `json:"addr"`
	Name          string `json:"name"`
	TokenKey      []byte `json:"token_key"` // Ed25519 public key
	Store         string `json:"store"`     // sqlite or postgres
	Postgres      string `json:"postgres"`
	ReconnectRate int    `json:"reconnect_rate"`
	CPUProfile    string `json:"cpu_profile,omitempty"` // file for a CPU profile of the relay, until it stops
	GOMAXPROCS    int    `json:"gomaxprocs,omitempty"`  // the relay's, 0 for the default
	// Anonymous runs a key server beside the relay, as sealpostd does,
	// whose issuer keys the relay verifies send tokens with; its token
	// signing key is token-key.pem in Dir (anonymous.go).
	Anonymous bool `json:"anonymous,omitempty"`
	// Ephemeral (--ephemeral): nothing is stored, so the relay does not
	// sweep during the run, and the SQLite store's count of committed
	// write transactions (storeCommitsPath) is the load's writes alone.
	Ephemeral bool `json:"ephemeral,omitempty"`
}

// storeCommitsPath is where a relay child on SQLite answers the store's
// count of committed write transactions (sqlite.Queue.Commits), as a
// decimal number: --ephemeral reads it before and after its load
// (spec/relay.md §7.4: an ephemeral send writes nothing).
const storeCommitsPath = "/sealpost-bench/store-commits"

// relayChild serves the relay of spec until SIGTERM; it prints
// "listening ADDR UNIXNANO" once it accepts connections, with the time it
// started to (the parent, busy with its herd, may read it late).
func relayChild(spec string, stdout, stderr io.Writer) int {
	var c childSpec
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintf(stderr, "sealpost-bench relay: %v\n", err)
		return 2
	}
	if err := c.serve(stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "sealpost-bench relay: %v\n", err)
		return 1
	}
	return 0
}

func (c *childSpec) serve(stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	raiseFileLimit(stderr)
	if c.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(c.GOMAXPROCS)
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var q store.Queue
	var err error
	if c.Store == "postgres" {
		q, err = postgres.Open(ctx, c.Postgres)
	} else {
		q, err = sqlite.Open(filepath.Join(c.Dir, "relay.db"))
	}
	if err != nil {
		return err
	}
	defer q.Close()
	cert, _, err := tlsconfig.LoadOrCreate(c.Dir, nil)
	if err != nil {
		return err
	}
	tcfg, err := tlsconfig.ServerConfig(cert)
	if err != nil {
		return err
	}
	lim := selfLimits()
	lim.ReconnectRate = c.ReconnectRate
	if c.Ephemeral {
		lim.SweepInterval = 24 * time.Hour
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	rcfg := relay.Config{
		Name: c.Name, Queue: q, TokenKeys: []ed25519.PublicKey{c.TokenKey}, Limits: lim,
		Logger: logger,
	}
	var ksHandler http.Handler
	if c.Anonymous {
		ks, stopKS, err := c.startKeyServer(&rcfg, logger)
		if err != nil {
			return err
		}
		defer stopKS()
		ksHandler = ks
	}
	srv, err := relay.New(rcfg)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	childMemoryHandlers(mux) // --idle (idle.go)
	if sq, ok := q.(*sqlite.Queue); ok {
		mux.HandleFunc(storeCommitsPath, func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "%d\n", sq.Commits())
		})
	}
	if ksHandler != nil {
		mux.Handle("/", ksHandler)
	}
	ksHandler = mux
	hs, ln, err := serveRelay(srv, c.Addr, tcfg, ksHandler)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening %s %d\n", ln.Addr(), time.Now().UnixNano())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hs.Close() // the listener: no new connections while the open ones end
	return srv.Shutdown(sctx)
}

// childRelay is --herd's relay: a child process of this tool.
type childRelay struct {
	target
	spec childSpec
	cmd  *exec.Cmd
	up   time.Time // when the child last started listening
}

// startChild prepares the child's store, certificate and token key and
// starts it.
func startChild(ctx context.Context, o *options, stderr io.Writer) (*childRelay, error) {
	dir, err := os.MkdirTemp("", "sealpost-bench")
	if err != nil {
		return nil, err
	}
	cert, _, err := tlsconfig.LoadOrCreate(dir, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r := &childRelay{spec: childSpec{Dir: dir, Addr: "127.0.0.1:0", Name: o.name, TokenKey: pub,
		Store: o.self, Postgres: o.postgres, ReconnectRate: o.reconnectRate, CPUProfile: o.relayProfile, GOMAXPROCS: o.relayProcs,
		Anonymous: o.anonymous || o.compare, Ephemeral: o.ephemeral}}
	if r.spec.Anonymous {
		if err := writeTokenKey(dir, key); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := r.serve(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r.target = target{
		url:      "wss://" + r.spec.Addr + relay.Path,
		tls:      tlsconfig.ClientConfig(tlsconfig.FingerprintOf(cert.Certificate[0])),
		key:      key,
		audience: "relay:" + o.name,
	}
	return r, nil
}

// serve starts the child and waits until it listens.
func (r *childRelay) serve() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	spec, err := json.Marshal(r.spec)
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		f := strings.Fields(s)
		var ns int64
		if len(f) == 3 && f[0] == "listening" {
			ns, err = strconv.ParseInt(f[2], 10, 64)
		}
		if len(f) != 3 || f[0] != "listening" || err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("relay child did not start (%q)", s)
		}
		r.spec.Addr, r.up = f[1], time.Unix(0, ns)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return errors.New("relay child did not start within 30 s")
	}
	r.cmd = cmd
	return nil
}

// stop stops the child: SIGTERM, a graceful shutdown (every connection gets
// Error{shutting_down}, spec/relay.md §10), or with drop SIGKILL, a crash
// (the connections are cut without a WebSocket close).
func (r *childRelay) stop(ctx context.Context, drop bool) error {
	if r.cmd == nil {
		return nil
	}
	sig := syscall.SIGTERM
	if drop {
		sig = syscall.SIGKILL
	}
	r.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		r.cmd.Process.Kill()
		err = <-done
	}
	r.cmd = nil
	var ee *exec.ExitError
	if drop && errors.As(err, &ee) {
		err = nil // killed, as asked
	}
	return err
}

// storeCommits reads the child's count of committed write transactions
// (storeCommitsPath); an error for a child whose store is not SQLite.
func (r *childRelay) storeCommits(ctx context.Context) (int64, error) {
	if r.spec.Store == "postgres" {
		return 0, errors.New("the store's write counter is SQLite's")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+r.spec.Addr+storeCommitsPath, nil)
	if err != nil {
		return 0, err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: r.tls}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", storeCommitsPath, resp.Status)
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// pid is the child's process id, 0 while it is not running.
func (r *childRelay) pid() int {
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// shutdown is close with a minute to finish, for a deferred call.
func (r *childRelay) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r.close(ctx)
}

func (r *childRelay) close(ctx context.Context) error {
	err := r.stop(ctx, false)
	return errors.Join(err, os.RemoveAll(r.spec.Dir))
}
