package revocation_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/revocation"
	"github.com/sealpost/sealpost/relay/wire"
)

// DeviceHash hashes the label, 0x00 and the device address of
// spec/relay.md §4, so relays hash a connection's address as it stands.
func TestDeviceHash(t *testing.T) {
	want := sha256.Sum256(append([]byte("sealpost/v1/revoked-device\x00"), wire.FormatAddress("bob", 1)...))
	if got := revocation.DeviceHash("bob", 1); got != want {
		t.Fatalf("DeviceHash(bob, 1) = %x, want %x", got, want)
	}
	if revocation.DeviceHash("bob", 2) == want || revocation.DeviceHash("bo", 1) == want {
		t.Fatal("different devices hash alike")
	}
}

// A page is accepted only with increasing indexes from the cursor asked,
// 32-byte canonical base64url hashes and the right next cursor.
func TestPageEntries(t *testing.T) {
	h := revocation.DeviceHash("alice", 2)
	at := time.Unix(1_800_000_000, 0).UTC()
	good := revocation.NewPage([]revocation.Entry{{Index: 4, Device: h, Time: at}, {Index: 9, Device: h, Time: at}}, 3)
	es, err := good.Entries(3)
	if err != nil || len(es) != 2 || es[1].Index != 9 || es[1].Device != h || !es[1].Time.Equal(at) || good.Next != 10 {
		t.Fatalf("good page: %+v %v (next %d)", es, err, good.Next)
	}
	empty := revocation.NewPage(nil, 7)
	if es, err := empty.Entries(7); err != nil || len(es) != 0 || empty.Next != 7 {
		t.Fatalf("empty page: %+v %v", empty, err)
	}
	for name, mod := range map[string]func(p *revocation.Page){
		"index below the cursor": func(p *revocation.Page) { p.Revocations[0].Index = 2 },
		"indexes not increasing": func(p *revocation.Page) { p.Revocations[1].Index = 4 },
		"next wrong":             func(p *revocation.Page) { p.Next = 11 },
		"short hash":             func(p *revocation.Page) { p.Revocations[0].Device = base64.RawURLEncoding.EncodeToString(h[:31]) },
		"padded hash":            func(p *revocation.Page) { p.Revocations[0].Device = base64.URLEncoding.EncodeToString(h[:]) },
	} {
		p := revocation.NewPage([]revocation.Entry{{Index: 4, Device: h, Time: at}, {Index: 9, Device: h, Time: at}}, 3)
		mod(&p)
		if _, err := p.Entries(3); !errors.Is(err, revocation.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// Client reads pages over HTTPS and refuses what is not a page.
func TestClient(t *testing.T) {
	h := revocation.DeviceHash("alice", 2)
	body := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("from") {
		case "0":
			json.NewEncoder(w).Encode(revocation.NewPage([]revocation.Entry{{Index: 5, Device: h, Time: time.Unix(100, 0)}}, 0))
		case "6":
			w.Write([]byte(`{"revocations":[],"next":6,"extra":1}`))
		default:
			http.Error(w, "no", http.StatusInternalServerError)
		}
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != revocation.Path || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		body(w, r)
	}))
	defer srv.Close()
	c, err := revocation.NewClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	es, next, err := c.Revocations(ctx, 0)
	if err != nil || len(es) != 1 || es[0].Device != h || next != 6 {
		t.Fatalf("page 0: %+v %d %v", es, next, err)
	}
	if _, _, err := c.Revocations(ctx, 6); !errors.Is(err, revocation.ErrMalformed) {
		t.Fatalf("unknown field: %v", err)
	}
	if _, _, err := c.Revocations(ctx, 7); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("server error: %v", err)
	}
	for _, u := range []string{"http://keys.example", "https://keys.example/v1", "https://", "https://u@keys.example", "https://keys.example?x=1"} {
		if _, err := revocation.NewClient(u, nil); err == nil {
			t.Errorf("NewClient(%q) accepted", u)
		}
	}
}
