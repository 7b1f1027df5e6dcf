package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sealpost/sealpost/relay/wire"
)

// memoryGoal bounds the heap and stacks of an idle authenticated
// connection (issues 4 and 13). Measured: about 13.3 KiB at 19,000
// connections (sealpost-bench --idle, docs/performance.md, "Idle connections"), all heap:
// a parked reader has no goroutine (park.go); crypto/tls keeps about
// 8.5 KiB of it (handshake buffers, AES-GCM states, the Conn).
const memoryGoal = 16 << 10

// TestIdleConnMemory opens N idle authenticated connections to an
// in-process relay from a child process (so the clients' memory is not
// counted) and measures the relay process's heap and stacks in use per
// connection. N is SEALPOST_RELAY_MEM_CONNS (default 1000; the goal is
// stated for 10000).
func TestIdleConnMemory(t *testing.T) {
	if os.Getenv("SEALPOST_RELAY_MEM_CHILD") != "" {
		t.Skip("in the child")
	}
	if testing.Short() || raceEnabled {
		t.Skip("opens many connections; not meaningful under -race")
	}
	n := 1000
	if v := os.Getenv("SEALPOST_RELAY_MEM_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	e := startRelay(t, Limits{MaxConnsPerIP: n + 10})
	certFile := filepath.Join(t.TempDir(), "cert.der")
	if err := os.WriteFile(certFile, e.srv.Certificate().Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SEALPOST_RELAY_MEM_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	before := inUse()

	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChild$", "-test.v")
	cmd.Env = append(os.Environ(), "SEALPOST_RELAY_MEM_CHILD=1",
		"CHILD_URL="+e.url, "CHILD_CERT="+certFile, "CHILD_N="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if sc.Text() == "READY" {
			ready = true
			break
		}
		t.Log(sc.Text())
	}
	if !ready {
		t.Fatal("child failed")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	t.Logf("%d connections authenticated in %v", n, time.Since(start).Round(time.Millisecond))
	e.s.mu.Lock()
	got := len(e.s.conns)
	e.s.mu.Unlock()
	if got != n {
		t.Fatalf("%d connections registered, want %d", got, n)
	}
	time.Sleep(200 * time.Millisecond) // let the Hello writers exit
	after := inUse()
	per := (after.total() - before.total()) / int64(n)
	t.Logf("per idle connection: %d bytes (heap %d, stack %d), goroutines %d -> %d",
		per, (after.heap-before.heap)/int64(n), (after.stack-before.stack)/int64(n), before.goroutines, after.goroutines)
	if p := os.Getenv("SEALPOST_RELAY_MEM_PROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	if canPark && after.goroutines-before.goroutines > n/100+10 {
		t.Errorf("%d goroutines more for %d idle connections: a parked reader has none", after.goroutines-before.goroutines, n)
	}
	if per > memoryGoal {
		t.Errorf("%d bytes per idle connection, goal %d", per, memoryGoal)
	}
}

type usage struct {
	heap, stack int64
	goroutines  int
}

func (u usage) total() int64 { return u.heap + u.stack }

func inUse() usage {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC() // also shrinks goroutine stacks
	}
	runtime.ReadMemStats(&ms)
	return usage{heap: int64(ms.HeapInuse), stack: int64(ms.StackInuse), goroutines: runtime.NumGoroutine()}
}

// TestMemoryChild is the client side of TestIdleConnMemory, run in a child
// process.
func TestMemoryChild(t *testing.T) {
	if os.Getenv("SEALPOST_RELAY_MEM_CHILD") == "" {
		t.Skip("only in the child of TestIdleConnMemory")
	}
	der, err := os.ReadFile(os.Getenv("CHILD_CERT"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}
	hc := &http.Client{Transport: tr}
	n, _ := strconv.Atoi(os.Getenv("CHILD_N"))
	url := os.Getenv("CHILD_URL")
	now := time.Now()
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{Subprotocol}})
				if err != nil {
					cancel()
					errs <- fmt.Errorf("dial %d: %w", i, err)
					return
				}
				tok := mintFor(t, fmt.Sprintf("user%05d", i), 1, "relay:"+relayName, now, now.Add(time.Hour), issuer)
				b, _ := wire.Encode(authFrame(tok))
				if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
					cancel()
					errs <- err
					return
				}
				_, hb, err := ws.Read(ctx)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				if f, err := wire.Decode(hb, 0); err != nil || f.GetHello() == nil {
					errs <- fmt.Errorf("conn %d: no Hello: %v", i, err)
					return
				}
				conns[i] = ws
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Keep reading so WebSocket control frames and pings are handled.
	for _, ws := range conns {
		go func() {
			for {
				if _, _, err := ws.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	fmt.Println("READY")
	bufio.NewReader(os.Stdin).ReadString('\n')
}
