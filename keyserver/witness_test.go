package keyserver_test

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/witnesstest"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
)

// TestWitnessedCheckpoints: a key server configured with two real
// litewitness instances, each knowing the directory's log only (its one
// published log, spec/transparency-v2.md §7.6), submits each new
// directory checkpoint to them in the background and serves it with
// their cosignatures (§7.3), also in lookups; with one witness down, a new
// checkpoint carries one cosignature and a quorum of 2 refuses it.
func TestWitnessedCheckpoints(t *testing.T) {
	var ws []*witnesstest.Witness
	var policy []kt.Witness
	e := newEnv(t, func(cfg *keyserver.Config) {
		vkey, err := directory.VerifierKey(serverName, cfg.LogKey.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"witness.test/w1", "witness.test/w2"} {
			w := witnesstest.Start(t, name, map[string]string{serverName + directory.OriginSuffix: vkey})
			kw, err := kt.ParseWitness(w.VKey)
			if err != nil {
				t.Fatal(err)
			}
			ws, policy = append(ws, w), append(policy, kw)
			cfg.Witnesses = append(cfg.Witnesses, keyserver.WitnessConfig{URL: w.URL, VerifierKey: w.VKey})
		}
		cfg.WitnessInterval = 20 * time.Millisecond
	})
	c := e.dirClient()

	// waitCosigned waits until every change is sequenced and polls GET
	// /v2/log/checkpoint until the checkpoint of the latest epoch has
	// quorum cosignatures of the policy.
	waitCosigned := func(quorum int) []byte {
		t.Helper()
		size := int64(e.waitSequenced())
		deadline := time.Now().Add(30 * time.Second)
		for {
			var r api.CheckpointResponse
			e.ok("GET", "/v2/log/checkpoint", nil, "", http.StatusOK, &r)
			cp, _, err := kt.VerifyCosigned([]byte(r.Checkpoint), c.v, policy, quorum)
			if err == nil && cp.Size == size {
				return []byte(r.Checkpoint)
			}
			if err != nil && !errors.Is(err, kt.ErrNoQuorum) {
				t.Fatalf("served checkpoint: %v\n%s", err, r.Checkpoint)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint of size %d with %d cosignatures after 30 s: %v\n%s", size, quorum, err, r.Checkpoint)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	start := time.Now()
	e.register(e.newUser("alice"))
	waitCosigned(2)
	t.Logf("epoch with alice cosigned by both witnesses %v after registration", time.Since(start))
	e.register(e.newUser("bob"))
	e.register(e.newUser("carol"))
	signed := waitCosigned(2)
	if n := strings.Count(string(signed), "\n— witness.test/"); n != 2 {
		t.Fatalf("%d witness lines served, want 2:\n%s", n, signed)
	}
	_, r, err := c.lookup("bob", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, cosigs, err := kt.VerifyCosigned([]byte(r.Checkpoint), c.v, policy, 2); err != nil || len(cosigs) != 2 {
		t.Fatalf("lookup checkpoint: %d cosignatures, %v\n%s", len(cosigs), err, r.Checkpoint)
	}

	ws[1].Stop()
	e.register(e.newUser("dave"))
	signed = waitCosigned(1)
	if cp, cosigs, err := kt.VerifyCosigned(signed, c.v, policy, 2); !errors.Is(err, kt.ErrNoQuorum) || cp != nil || len(cosigs) != 1 {
		t.Fatalf("new epoch with w2 down, quorum 2: %v, %d cosignatures, %v; want ErrNoQuorum", cp, len(cosigs), err)
	}
}

// TestWitnessConfigRefused: a witness key that does not parse, a URL that
// is not http(s), the same witness twice, or the log's own key are
// configuration errors, and no server starts; they are checked also
// without a VRF key, when there is no log to cosign.
func TestWitnessConfigRefused(t *testing.T) {
	logKey := ed25519.NewKeyFromSeed(append(make([]byte, 31), 1))
	wk := kttest.WitnessKey(t, "witness.test/w1", ed25519.NewKeyFromSeed(append(make([]byte, 31), 2)).Public().(ed25519.PublicKey))
	own := kttest.WitnessKey(t, "witness.test/own", logKey.Public().(ed25519.PublicKey))
	for _, c := range []struct {
		name string
		ws   []keyserver.WitnessConfig
		want string
	}{
		{"bad key", []keyserver.WitnessConfig{{URL: "http://127.0.0.1:1", VerifierKey: "nope"}}, "malformed"},
		{"bad URL", []keyserver.WitnessConfig{{URL: "ftp://x", VerifierKey: wk}}, "not http(s)"},
		{"twice", []keyserver.WitnessConfig{{URL: "http://127.0.0.1:1", VerifierKey: wk}, {URL: "http://127.0.0.1:2", VerifierKey: wk}}, "invalid witness policy"},
		{"the log's own key", []keyserver.WitnessConfig{{URL: "http://127.0.0.1:1", VerifierKey: own}}, "log's own key"},
	} {
		cfg := keyserver.Config{Name: serverName, Store: openSQLite(t), TokenKey: ed25519.NewKeyFromSeed(make([]byte, 32)), LogKey: logKey, Witnesses: c.ws}
		srv, err := keyserver.New(cfg)
		if err == nil || srv != nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New = %v, %v; want an error with %q", c.name, srv, err, c.want)
		}
	}
}
