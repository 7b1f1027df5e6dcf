package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// killChildEnv names the database a child process of TestKillLosesNothing
// sends into.
const killChildEnv = "SEALPOST_RELAY_SQLITE_KILL_CHILD"

// TestKillLosesNothing runs Sends in a child process, kills it with
// SIGKILL while they run, and checks that every Send it answered is in the
// database.
func TestKillLosesNothing(t *testing.T) {
	if path := os.Getenv(killChildEnv); path != "" {
		killChild(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relay.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillLosesNothing$", "-test.v=false")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	answered := map[int]bool{}
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(20 * time.Second)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		i, err := strconv.Atoi(strings.TrimPrefix(line, "stored "))
		if err != nil || !strings.HasPrefix(line, "stored ") {
			continue
		}
		answered[i] = true
		if !killed && (len(answered) >= 2000 || time.Now().After(deadline)) {
			cmd.Process.Kill() // SIGKILL; answers already written are still read
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("child exited by itself after %d answers", len(answered))
	}

	q := openPath(t, path)
	es, err := q.Fetch(t.Context(), bob, 0, len(answered)+10000, testSend(0).Now)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int]bool{}
	for _, e := range es {
		var i int
		if _, err := fmt.Sscanf(string(e.Data), "envelope %d", &i); err != nil {
			t.Fatalf("unexpected envelope %q", e.Data)
		}
		stored[i] = true
	}
	for i := range answered {
		if !stored[i] {
			t.Errorf("send %d was answered but is not stored", i)
		}
	}
	st, err := q.Stats(t.Context(), bob)
	if err != nil || st.Count != len(es) {
		t.Errorf("Stats %+v, %v after restart; %d envelopes", st, err, len(es))
	}
	t.Logf("%d sends answered before SIGKILL, %d stored", len(answered), len(stored))
}

// killChild sends from 64 goroutines until killed, printing "stored i"
// for every answered Send.
func killChild(path string) {
	q, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := q.OpenMailbox(context.Background(), bob, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				s := testSend(i)
				s.MaxQueueCount = 1 << 30
				s.MaxQueueBytes = 1 << 40
				r, err := q.Send(context.Background(), s)
				if err != nil || r.Statuses[0] != store.Stored {
					fmt.Fprintln(os.Stderr, "send:", r, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "stored %d\n", i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
