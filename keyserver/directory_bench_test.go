package keyserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/sqlite"
)

// benchAccounts is the directory size of BenchmarkDirectoryLookup;
// SEALPOST_BENCH_ACCOUNTS overrides it.
const benchAccounts = 100_000

// BenchmarkDirectoryLookup measures the key server's version 2 lookups
// end to end on SQLite over HTTPS (TLS 1.3, keep-alive connections) for a
// directory of many accounts, all sequenced (spec/keyserver.md §9.1):
//
//	go test ./keyserver -run '^$' -bench DirectoryLookup -benchtime 20000x
//
// "serve" is lookups/s the server answers (random present handles, from
// concurrent clients; each answer is checked to be a 200 with an entry);
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

	b.Run(name+"/serve", func(b *testing.B) {
		tr := e.client.Transport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		client := &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
		var next atomic.Uint64
		b.SetParallelism(8)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) * 2654435761 % uint64(len(handles))
				resp, err := client.Get(e.ts.URL + "/v2/accounts/" + handles[i])
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
				var r api.DirectoryLookup
				if err := json.Unmarshal(body, &r); err != nil || r.Entry == nil {
					b.Errorf("lookup %s: %v, entry %x", handles[i], err, r.Entry)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
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

func countName(n int) string {
	switch {
	case n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

// benchDirectory returns a key server over a SQLite store holding n
// accounts, every one sequenced, and their handles. The accounts are
// written to the store directly, as registrations write them, with one
// account key and one device key certified under each handle (each entry
// verifies; generating keys per account would dominate the set-up); the
// server's sequencer then puts them into epochs of MaxEpochUpdates, with
// one registration made through the API.
func benchDirectory(b *testing.B, n int) (*env, []string) {
	b.Helper()
	start := time.Now()
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "keyserver.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
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
