package ksclient

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
	"github.com/sealpost/sealpost/tlsconfig"
)

// auditLog fills s with 7 entries of 3 accounts, devices added and
// revoked.
func auditLog(s *server) {
	alice, bob, carol := s.newUser("alice"), s.newUser("bob"), s.newUser("carol")
	s.register(alice)
	s.register(bob)
	s.addDevice(alice, 2)
	s.register(carol)
	s.revoke(alice, 2)
	s.addDevice(bob, 2)
	s.addDevice(alice, 3)
}

type progressLog struct {
	mu    sync.Mutex
	calls [][2]int64
}

func (p *progressLog) record(done, total int64) {
	p.mu.Lock()
	p.calls = append(p.calls, [2]int64{done, total})
	p.mu.Unlock()
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil) // MaxLeaves 3
	v := s.verifier()

	empty, err := Audit(ctx, s.c, v, nil, fresh(), nil)
	if err != nil || empty.Size != 0 || empty.Accounts != 0 || empty.Pin.Size != 0 {
		t.Fatalf("empty log: %+v, %v", empty, err)
	}

	s.register(s.newUser("zed"))
	pin1 := s.checkpoint(v)
	auditLog(s)
	text, err := s.c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var p progressLog
	leaves := s.count("/v1/log/leaves")
	r, err := Audit(ctx, s.c, v, nil, fresh(), p.record)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size != 8 || r.Entries != 8 || r.Accounts != 4 || r.Checkpoint != text || r.Pin.Size != 8 || string(r.Pin.Signed) != text {
		t.Fatalf("audit: %+v", r)
	}
	if want := [][2]int64{{3, 8}, {6, 8}, {8, 8}}; !slices.Equal(p.calls, want) {
		t.Fatalf("progress %v, want %v", p.calls, want)
	}
	if n := s.count("/v1/log/leaves") - leaves; n != 3 {
		t.Fatalf("%d leaf pages fetched, want 3", n)
	}

	// From an older pin, and from the same one.
	for _, pin := range []*kt.Checkpoint{pin1, r.Pin} {
		r2, err := Audit(ctx, s.c, v, pin, fresh(), nil)
		if err != nil || r2.Size != 8 || string(r2.Pin.Signed) != text {
			t.Fatalf("audit from pin of size %d: %+v, %v", pin.Size, r2, err)
		}
	}

	// A server showing an older checkpoint, consistent with the pin
	// (spec/client.md §6.1): stale, not a fork; nothing to pin.
	s.rewrite("/v1/log/checkpoint", func(int, []byte) (int, []byte) {
		b, _ := json.Marshal(api.CheckpointResponse{Checkpoint: string(pin1.Signed)})
		return http.StatusOK, b
	})
	r3, err := Audit(ctx, s.c, v, r.Pin, fresh(), nil)
	if !errors.Is(err, ErrStale) || errors.Is(err, kt.ErrSecurity) || r3 != nil {
		t.Fatalf("older latest checkpoint: %+v, %v; want ErrStale", r3, err)
	}

	// A latest checkpoint signed more than the maximum age ago.
	s.setForge(nil)
	old := fresh()
	old.Now = old.Now.Add(25 * time.Hour)
	if r4, err := Audit(ctx, s.c, v, r.Pin, old, nil); !errors.Is(err, ErrStale) || r4 != nil {
		t.Fatalf("checkpoint 25 h old: %+v, %v; want ErrStale", r4, err)
	}
}

// TestAuditTamperedLeaves: a server that serves leaves other than the
// ones its checkpoint commits to is caught, and the error names where.
func TestAuditTamperedLeaves(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil)
	v := s.verifier()
	auditLog(s) // 7 leaves: pages [0,3) [3,6) [6,7)
	all, err := s.c.Leaves(ctx, 0, 3)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		page  int64 // the start of the page to tamper with
		edit  func([]api.Bytes) []api.Bytes
		where string
	}{
		{"byte flipped", 3, func(l []api.Bytes) []api.Bytes {
			l[1] = append(api.Bytes(nil), l[1]...)
			l[1][len(l[1])-1] ^= 1
			return l
		}, "[3, 6)"},
		{"leaves swapped", 3, func(l []api.Bytes) []api.Bytes {
			l[0], l[2] = l[2], l[0]
			return l
		}, "[3, 6)"},
		{"valid entry from elsewhere", 6, func(l []api.Bytes) []api.Bytes {
			l[0] = all[0]
			return l
		}, "[6, 7)"},
		{"leaf withheld", 0, func(l []api.Bytes) []api.Bytes { return l[:2] }, "[0, 3)"},
		{"leaf added", 6, func(l []api.Bytes) []api.Bytes { return append(l, all[1]) }, "[6, 7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.setForge(func(w http.ResponseWriter, r *http.Request, real http.Handler) bool {
				if r.URL.Path != "/v1/log/leaves" || r.URL.Query().Get("start") != strconv.FormatInt(tc.page, 10) {
					return false
				}
				rec := httptest.NewRecorder()
				real.ServeHTTP(rec, r)
				var lr api.LeavesResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &lr); err != nil {
					t.Error(err)
				}
				lr.Leaves = tc.edit(lr.Leaves)
				b, _ := json.Marshal(lr)
				w.Header().Set("Content-Type", "application/json")
				w.Write(b)
				return true
			})
			defer s.setForge(nil)
			var p progressLog
			r, err := Audit(ctx, s.c, v, nil, fresh(), p.record)
			if !errors.Is(err, kt.ErrSecurity) || r != nil {
				t.Fatalf("got %+v, %v; want kt.ErrSecurity", r, err)
			}
			if !strings.Contains(err.Error(), tc.where) {
				t.Errorf("error %q does not name %s", err, tc.where)
			}
			for _, c := range p.calls {
				if c[0] > tc.page {
					t.Errorf("progress reported %d leaves checked past the tampered page", c[0])
				}
			}
		})
	}
	if _, err := Audit(ctx, s.c, v, nil, fresh(), nil); err != nil {
		t.Fatalf("genuine leaves: %v", err)
	}
}

// TestAuditFork: an audit against a pin from another view of the same
// log key is refused before any leaf is read.
func TestAuditFork(t *testing.T) {
	ctx := context.Background()
	a := newServer(t, "A", nil)
	b := newServer(t, "B", func(c *keyserver.Config) { c.LogKey = a.logKey })
	v := a.verifier()
	auditLog(a)
	b.register(b.newUser("mallory"))
	b.register(b.newUser("eve"))
	pinA := a.checkpoint(v)
	for _, pin := range []*kt.Checkpoint{pinA, nil} {
		_, err := Audit(ctx, b.c, v, pin, fresh(), nil)
		if pin != nil && !errors.Is(err, kt.ErrSecurity) {
			t.Fatalf("forked log: %v", err)
		}
		if pin == nil && err != nil {
			t.Fatalf("B alone: %v", err)
		}
	}
	if b.count("/v1/log/leaves") != 1 { // only the audit without a pin
		t.Fatalf("%d leaf pages fetched", b.count("/v1/log/leaves"))
	}
	// A checkpoint by another key.
	c := newServer(t, "C", nil)
	c.register(c.newUser("carol"))
	if _, err := Audit(ctx, c.c, v, nil, fresh(), nil); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("checkpoint by another key: %v", err)
	}
}

// logDouble serves the log endpoints of spec/keyserver.md §6 (and the
// discovery document) from an in-memory log signed with the real log key:
// a key server whose log holds a history no account key could make.
func logDouble(t *testing.T, l *kttest.Log, logKey ed25519.PrivateKey) *Client {
	t.Helper()
	vk, err := kt.VerifierKey(l.Origin, logKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	q := func(r *http.Request, name string) int64 {
		n, _ := strconv.ParseInt(r.URL.Query().Get(name), 10, 64)
		return n
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wellKnownPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, api.WellKnown{
			Name: serverName, Audience: "keyserver:" + serverName, RelayAudiences: []string{},
			LogOrigin: l.Origin, LogVerifierKey: vk, Limits: api.PublicLimits{MaxLeaves: 2},
		})
	})
	mux.HandleFunc("GET /v1/log/checkpoint", func(w http.ResponseWriter, r *http.Request) {
		cp, err := l.Checkpoint(l.Size())
		if err != nil {
			t.Error(err)
		}
		writeJSON(w, api.CheckpointResponse{Checkpoint: string(cp)})
	})
	mux.HandleFunc("GET /v1/log/consistency", func(w http.ResponseWriter, r *http.Request) {
		p, err := l.ProveConsistency(q(r, "old"), q(r, "new"))
		if err != nil {
			t.Error(err)
		}
		out := make([]api.Bytes, len(p))
		for i := range p {
			out[i] = p[i][:]
		}
		writeJSON(w, api.ConsistencyResponse{Proof: out})
	})
	mux.HandleFunc("GET /v1/log/leaves", func(w http.ResponseWriter, r *http.Request) {
		var out []api.Bytes
		for i := q(r, "start"); i < q(r, "end"); i++ {
			out = append(out, l.Leaf(i))
		}
		writeJSON(w, api.LeavesResponse{Leaves: out})
	})
	ts := httptest.NewUnstartedServer(mux)
	var pin tlsconfig.Fingerprint
	ts.TLS, pin = serverTLS(t)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	c, err := New(ts.URL, tlsconfig.ClientConfig(pin))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAuditBadHistory: leaves that hash to the signed root, each a valid
// entry, but a history kt.CheckSuccessor forbids.
func TestAuditBadHistory(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil) // for keys only
	alice, bob := s.newUser("alice"), s.newUser("bob")
	impostor := s.newUser("alice") // another account key for alice
	entry := func(u *user, version uint64) []byte {
		return (&kt.Entry{Handle: u.handle, AccountKey: u.account.Public(), Version: version,
			Devices: []kt.Device{{Certificate: u.certs[1]}}}).Marshal()
	}
	for _, tc := range []struct {
		name   string
		leaves [][]byte
		bad    string
	}{
		{"registered twice", [][]byte{entry(alice, 1), entry(bob, 1), entry(alice, 1)}, "leaf 2"},
		{"account key changed", [][]byte{entry(alice, 1), entry(bob, 1), entry(impostor, 2)}, "leaf 2"},
		{"first entry not a registration", [][]byte{entry(bob, 1), entry(alice, 2)}, "leaf 1"},
		{"version skipped", [][]byte{entry(alice, 1), entry(alice, 3)}, "leaf 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := kttest.New(serverName+"/keyserver", s.logKey)
			l.Time = testEpoch
			if err != nil {
				t.Fatal(err)
			}
			for _, leaf := range tc.leaves {
				if _, err := l.Append(leaf); err != nil {
					t.Fatal(err)
				}
			}
			c := logDouble(t, l, s.logKey)
			v, err := kt.NewVerifier(s.verifier().Key())
			if err != nil {
				t.Fatal(err)
			}
			_, err = Audit(ctx, c, v, nil, fresh(), nil)
			if !errors.Is(err, kt.ErrSecurity) || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("got %v, want kt.ErrSecurity naming %s", err, tc.bad)
			}
		})
	}
	// The same double with a valid history passes.
	l, _ := kttest.New(serverName+"/keyserver", s.logKey)
	l.Time = testEpoch
	l.Append(entry(alice, 1))
	l.Append(entry(bob, 1))
	if r, err := Audit(ctx, logDouble(t, l, s.logKey), s.verifier(), nil, fresh(), nil); err != nil || r.Accounts != 2 {
		t.Fatalf("valid history: %+v, %v", r, err)
	}
}

// TestAuditNetworkError: a server that goes away is not a security error.
func TestAuditNetworkError(t *testing.T) {
	s := newServer(t, "", nil)
	v := s.verifier()
	auditLog(s)
	s.setForge(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.URL.Path != "/v1/log/leaves" {
			return false
		}
		panic(http.ErrAbortHandler) // drop the connection
	})
	_, err := Audit(context.Background(), s.c, v, nil, fresh(), nil)
	if err == nil || errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("dropped connection: %v", err)
	}
}
