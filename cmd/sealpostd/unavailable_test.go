package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// Honest health (issue 10): a database that cannot serve — the disk full,
// PostgreSQL stopped — makes /readyz answer 503, every key server request
// that needs it answer 503 unavailable with Retry-After, and the relay
// close connections with ERROR_CODE_UNAVAILABLE; never a 500 or a panic.
// Once the database can serve again everything recovers without a restart
// of sealpostd. The disk test fills a real size-limited file system
// (tmpfs, diskfull_test.go); the PostgreSQL test stops and starts a private
// cluster (pgcluster_test.go).

// readyWait bounds how long /readyz may take to follow the database.
const readyWait = 10 * time.Second

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	code   string // the JSON error code, if any
	body   []byte
}

// do sends a JSON request to the public listener of d.
func do(t *testing.T, d *daemon, method, path string, body any) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+d.addr+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := d.client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: data}
	var e api.ErrorResponse
	if json.Unmarshal(data, &e) == nil {
		a.code = e.Error
	}
	return a
}

// checkUnavailable checks that a is 503 unavailable with a Retry-After of
// at least one second.
func checkUnavailable(t *testing.T, what string, a answer) {
	t.Helper()
	ra, err := strconv.Atoi(a.header.Get("Retry-After"))
	if a.status != http.StatusServiceUnavailable || a.code != api.CodeUnavailable || err != nil || ra < 1 {
		t.Errorf("%s: %d %q Retry-After %q, want 503 %s with Retry-After", what, a.status, a.body, a.header.Get("Retry-After"), api.CodeUnavailable)
	}
}

// checkNo5xx fails on any 5xx but 503.
func checkNo5xx(t *testing.T, what string, a answer) {
	t.Helper()
	if a.status >= 500 && a.status != http.StatusServiceUnavailable {
		t.Errorf("%s: %d %q, a 5xx other than 503", what, a.status, a.body)
	}
}

// waitReady polls /readyz on the admin listener until it answers want.
func waitReady(t *testing.T, d *daemon, want int) {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for {
		resp, err := http.Get(d.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				if want == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
					t.Error("/readyz: 503 without Retry-After")
				}
				// Liveness does not follow the database.
				if h, err := http.Get(d.admin + "/healthz"); err != nil || h.StatusCode != http.StatusOK {
					t.Errorf("/healthz while /readyz answers %d: %v %v", want, h, err)
				} else {
					h.Body.Close()
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer %d within %s (last: %v %v)", want, readyWait, resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lookupPresent reports whether a directory lookup answered 200 with
// handle's key set; false when it answered 200 without one, the handle
// proven absent. Any other answer fails the test.
func lookupPresent(t *testing.T, d *daemon, handle string) bool {
	t.Helper()
	a := do(t, d, "GET", "/v2/accounts/"+handle, nil)
	if a.status != http.StatusOK {
		t.Fatalf("lookup of %s: %d %s", handle, a.status, a.body)
	}
	var l api.DirectoryLookup
	if err := json.Unmarshal(a.body, &l); err != nil {
		t.Fatalf("lookup of %s: %v", handle, err)
	}
	return len(l.Entry) > 0
}

// waitInDirectory waits until the key directory serves handle's key set:
// its registration is in an epoch, so the directory's log no longer grows
// for it.
func waitInDirectory(t *testing.T, d *daemon, handle string) {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for !lookupPresent(t, d, handle) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not in the key directory after %s", handle, readyWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkpointSize is the size of the key directory's log.
func checkpointSize(t *testing.T, d *daemon) string {
	t.Helper()
	a := do(t, d, "GET", "/v2/log/checkpoint", nil)
	if a.status != http.StatusOK {
		t.Fatalf("checkpoint: %d %s", a.status, a.body)
	}
	var c api.CheckpointResponse
	if err := json.Unmarshal(a.body, &c); err != nil {
		t.Fatal(err)
	}
	// The note's second line is the tree size.
	lines := strings.SplitN(c.Checkpoint, "\n", 3)
	if len(lines) < 2 {
		t.Fatalf("checkpoint %q", c.Checkpoint)
	}
	return lines[1]
}

// sendUntilRefused sends envelopes from c to rcpt, one message id each,
// until the relay refuses one; it returns the envelopes answered stored,
// the refused one and the error. Every answer must be "stored" or the
// connection's end with ERROR_CODE_UNAVAILABLE.
func sendUntilRefused(t *testing.T, c *relayclient.Conn, rcpt []byte, prefix string, max int) (stored []string, refused string, refusedID [wire.MessageIDSize]byte) {
	t.Helper()
	for i := range max {
		env := fmt.Sprintf("%s-%d", prefix, i)
		var id [wire.MessageIDSize]byte
		copy(id[:], env)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, _, err := c.Send(ctx, id, []*wire.Item{{Recipient: rcpt, Envelope: []byte(env)}})
		cancel()
		if err != nil {
			var re *relayclient.RemoteError
			if !errors.As(err, &re) || re.Code != wire.ErrorCode_ERROR_CODE_UNAVAILABLE {
				t.Fatalf("send %s: %v, want ERROR_CODE_UNAVAILABLE", env, err)
			}
			return stored, env, id
		}
		if len(st) != 1 || st[0] != wire.Status_STATUS_STORED {
			t.Fatalf("send %s: %v", env, st)
		}
		stored = append(stored, env)
	}
	t.Fatalf("relay stored %d sends and refused none", max)
	return
}

// receiveAll connects as dev and returns the envelopes delivered within
// quiet of each other, acking them.
func receiveAll(t *testing.T, d *daemon, dev relayDevice, quiet time.Duration) []string {
	t.Helper()
	c := dialRelay(t, d, dev)
	defer c.CloseNow()
	var got []string
	for {
		select {
		case del := <-c.Deliveries():
			got = append(got, string(del.Envelope))
			if err := c.Ack(context.Background(), del.Id); err != nil {
				t.Fatal(err)
			}
		case <-time.After(quiet):
			slices.Sort(got)
			return got
		case <-c.Done():
			t.Fatalf("relay closed the receiving connection: %v", c.Err())
		}
	}
}

// fillFile writes zeros to path until the file system is full.
func fillFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	// The last bytes, in smaller writes.
	for _, n := range []int{4096, 512, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	f.Sync()
}

// newKSAccountUnregistered is newKSAccount without the registration.
func newKSAccountUnregistered(t *testing.T, d *daemon, handle string) *ksAccount {
	t.Helper()
	ak, err := keys.GenerateAccountKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &ksAccount{t: t, d: d, handle: handle, account: ak, devices: map[keys.DeviceID]*keys.DevicePrivateKeys{}}
}

// registerRequest is a registration of a with device id, its challenge
// fetched and signed now.
func (a *ksAccount) registerRequest(id keys.DeviceID) api.RegisterRequest {
	a.t.Helper()
	cert, ch, sig := a.certified(id)
	pub := a.account.Public()
	return api.RegisterRequest{Handle: a.handle, AccountKey: pub[:], Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: sig}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// isRemote reports whether err is the relay's Error with code.
func isRemote(err error, code wire.ErrorCode) bool {
	var re *relayclient.RemoteError
	return errors.As(err, &re) && re.Code == code
}

// checkRecovered checks, after an outage, that the key server serves again
// (dave registers, alice gets a token) and that the relay stores the send
// it refused, resent by carol under the same id, and bob receives it; then
// it stops d.
func checkRecovered(t *testing.T, d *daemon, dave, alice *ksAccount, carol, bob relayDevice, refusedID [wire.MessageIDSize]byte, refusedEnv string) {
	t.Helper()
	dave.device(1)
	alice.token(1, api.AudiencePrefix+DefaultName)
	sender := dialRelay(t, d, carol)
	defer sender.CloseNow()
	st, dup, err := sender.Send(t.Context(), refusedID, []*wire.Item{{Recipient: bob.addr(), Envelope: []byte(refusedEnv)}})
	if err != nil || dup || len(st) != 1 || st[0] != wire.Status_STATUS_STORED {
		t.Fatalf("resend of the refused envelope: %v %v %v", st, dup, err)
	}
	if got := receiveAll(t, d, bob, 300*time.Millisecond); !slices.Equal(got, []string{refusedEnv}) {
		t.Errorf("bob received %q after the resend, want %q", got, refusedEnv)
	}
	d.stop(t)
}
