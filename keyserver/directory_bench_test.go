package keyserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
	"github.com/sealpost/sealpost/keyserver/store/storetest"
)

// benchAccounts is the directory size of BenchmarkDirectoryLookup;
// SEALPOST_BENCH_ACCOUNTS overrides it.
const benchAccounts = 100_000

// BenchmarkDirectoryLookup measures the key server's version 2 lookups
// (GET /v2/accounts/{handle} with its map proof, epoch inclusion proof and
// signed checkpoint, spec/keyserver.md §9.1) for a directory of many
// accounts, all sequenced:
//
//	go test ./keyserver -run '^$' -bench DirectoryLookup -benchtime 20000x
//
// on SQLite, or on PostgreSQL with SEALPOST_BENCH_STORE=postgres (and
// SEALPOST_TEST_POSTGRES set). Each lookup is of a random present handle
// from concurrent clients, and each answer is checked to be a 200 with an
// entry:
//
//   - "serve": over HTTPS (TLS 1.3, keep-alive connections), as an app
//     looks up;
//   - "serve-http": the same over plain HTTP on loopback, so the
//     difference is what TLS adds;
//   - "handler": the server's http.Handler called in-process, no network:
//     the server's own cost of a lookup.
//
// Each reports client-µs/op, the CPU of this process (client and server
// both) per lookup, and on PostgreSQL server-µs/op, the database's.
// "verify" is a client verifying answers (directory.VerifyLookup with the
// checkpoint's signature), over answers fetched from the same server.
// The per-map-proof figure without HTTP and store is vmap's
// BenchmarkLookupProof/accounts-1M.
func BenchmarkDirectoryLookup(b *testing.B) {
	n := benchAccounts
	if v := os.Getenv("SEALPOST_BENCH_ACCOUNTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("SEALPOST_BENCH_ACCOUNTS=%q", v)
		}
	}
	e, handles := benchDirectory(b, n)
	c := e.dirClient()
	name := fmt.Sprintf("accounts-%s", countName(n))

	get := func(b *testing.B, client *http.Client, base string) func(*testing.PB) {
		var next atomic.Uint64
		return func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) * 2654435761 % uint64(len(handles))
				resp, err := client.Get(base + "/v2/accounts/" + handles[i])
				if err != nil {
					b.Error(err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Errorf("lookup %s: %d %s %v", handles[i], resp.StatusCode, body, err)
					return
				}
				checkLookup(b, i, handles[i], body)
			}
		}
	}
	b.Run(name+"/serve", func(b *testing.B) {
		tr := e.client.Transport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		client := &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
		b.SetParallelism(8)
		b.ReportAllocs()
		cpu := storetest.StartCPU()
		b.ResetTimer()
		b.RunParallel(get(b, client, e.ts.URL))
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		cpu.Report(b)
	})
	b.Run(name+"/serve-http", func(b *testing.B) {
		ts := httptest.NewServer(e.srv.Handler())
		defer ts.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: 256}
		defer tr.CloseIdleConnections()
		b.SetParallelism(8)
		b.ReportAllocs()
		cpu := storetest.StartCPU()
		b.ResetTimer()
		b.RunParallel(get(b, &http.Client{Transport: tr}, ts.URL))
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		cpu.Report(b)
	})
	b.Run(name+"/handler", func(b *testing.B) {
		h := e.srv.Handler()
		var next atomic.Uint64
		b.SetParallelism(8)
		b.ReportAllocs()
		cpu := storetest.StartCPU()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) * 2654435761 % uint64(len(handles))
				req := httptest.NewRequest("GET", "/v2/accounts/"+handles[i], nil)
				req.RemoteAddr = "192.0.2.1:1234"
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Errorf("lookup %s: %d %s", handles[i], w.Code, w.Body)
					return
				}
				checkLookup(b, i, handles[i], w.Body.Bytes())
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		cpu.Report(b)
	})

	answers := make([]*api.DirectoryLookup, 1024)
	for i := range answers {
		h := handles[(i*7919)%len(handles)]
		var r api.DirectoryLookup
		e.ok("GET", "/v2/accounts/"+h, nil, "", http.StatusOK, &r)
		answers[i] = &r
	}
	b.Run(name+"/verify", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			entry, err := c.verifyLookup(answers[i%len(answers)])
			if err != nil || entry == nil {
				b.Fatalf("verify: %v", err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verified/s")
	})
}

// checkLookup fails b unless body is a lookup answer with an entry: every
// answer has an "entry" string, and one in 64 (i) is decoded in full, so
// that the client's JSON decoding does not swamp the server's cost in the
// CPU figures.
func checkLookup(b *testing.B, i uint64, handle string, body []byte) {
	if !bytes.Contains(body, []byte(`"entry":"`)) {
		b.Errorf("lookup %s: no entry in %.200s", handle, body)
		return
	}
	if i%64 != 0 {
		return
	}
	var r api.DirectoryLookup
	if err := json.Unmarshal(body, &r); err != nil || r.Entry == nil || r.Handle != handle {
		b.Errorf("lookup %s: %v, entry %x", handle, err, r.Entry)
	}
}

func countName(n int) string {
	switch {
	case n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

// benchStore opens the store of BenchmarkDirectoryLookup: SQLite, or
// PostgreSQL when SEALPOST_BENCH_STORE is "postgres".
func benchStore(b *testing.B) store.Store {
	switch v := os.Getenv("SEALPOST_BENCH_STORE"); v {
	case "", "sqlite":
		return openSQLite(b)
	case "postgres":
		st, err := postgres.Open(b.Context(), pgtest.DSN(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	default:
		b.Fatalf("SEALPOST_BENCH_STORE=%q: want sqlite or postgres", v)
		return nil
	}
}

// benchDirectory returns a key server over a store (benchStore) holding n
// accounts, every one sequenced, and their handles. The accounts are
// written to the store directly, as registrations write them, with one
// account key and one device key certified under each handle (each entry
// verifies; generating keys per account would dominate the set-up); the
// server's sequencer then puts them into epochs of MaxEpochUpdates, with
// one registration made through the API.
func benchDirectory(b *testing.B, n int) (*env, []string) {
	b.Helper()
	start := time.Now()
	st := benchStore(b)
	// Sequenced once all are stored, in full epochs: the registration at
	// the end starts the rounds.
	e := newEnvStore(b, st, func(cfg *keyserver.Config) { cfg.EpochInterval = time.Hour })
	ak, err := keys.GenerateAccountKey(e.rand)
	if err != nil {
		b.Fatal(err)
	}
	dev, err := keys.GenerateDeviceKeys(e.rand)
	if err != nil {
		b.Fatal(err)
	}
	aik := ak.Public()
	handles := make([]string, n)
	ctx := context.Background()
	now := e.clock.Now()
	// Certificates are signed concurrently, stored in order.
	const chunk = 1024
	certs := make([]*keys.DeviceCertificate, n)
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() {
			for i := lo; i < min(n, lo+chunk); i++ {
				handles[i] = fmt.Sprintf("user%07d", i)
				cert, err := ak.CertifyDevice(handles[i], 1, dev.Public(), now)
				if err != nil {
					b.Error(err)
					return
				}
				certs[i] = cert
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	for i, h := range handles {
		entry := &kt.Entry{Handle: h, AccountKey: aik, Version: 1, Devices: []kt.Device{{Certificate: certs[i]}}}
		if _, err := st.UpdateKeySet(ctx, store.KeySetUpdate{
			Handle: h, AccountKey: aik, AddDevice: &store.Device{ID: 1, Certificate: certs[i].Marshal()},
			Leaf: entry.Marshal(), Now: now,
		}); err != nil {
			b.Fatal(err)
		}
	}
	stored := time.Since(start)
	e.register(e.newUser("last"))
	epoch := e.waitSequencedWithin(max(30*time.Second, time.Duration(n)*2*time.Millisecond))
	b.Logf("directory of %d accounts: stored in %v, sequenced into %d epochs in %v more", n, stored.Round(time.Millisecond), epoch, (time.Since(start) - stored).Round(time.Millisecond))
	return e, handles
}
