package storetest

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/keyserver/store"
)

// testConcurrentClaims claims from many goroutines at once, each until it
// gets the fallback: every one-time prekey is handed out exactly once, none
// is lost, and then the claims fall back to the last-resort prekey.
func testConcurrentClaims(t *testing.T, f *fixture) {
	const workers, keysEach = 32, 500
	a := f.create("alice", 1)
	up := f.fullUpload(a, 1, keysEach)
	up.MaxOneTime = keysEach
	must(t, "upload", f.s.UploadPrekeys(f.ctx, up))
	f.counts("alice", 1, keysEach, keysEach)

	got := make([][]store.Claimed, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				cs, err := f.s.ClaimPrekeys(f.ctx, "alice")
				if err == nil && len(cs) != 1 {
					err = fmt.Errorf("%d claims, want 1", len(cs))
				}
				if err != nil {
					errs[w] = err
					return
				}
				got[w] = append(got[w], cs[0])
				if cs[0].OneTime == nil && !cs[0].KEMOneTime {
					return
				}
			}
		})
	}
	wg.Wait()
	ot, kem := encodings(up.OneTime), encodings(up.OneTimeKEM)
	fallbacks := 0
	for w := range workers {
		must(t, fmt.Sprintf("worker %d", w), errs[w])
		for _, c := range got[w] {
			if !bytes.Equal(c.Signed, up.Signed.Encoded) {
				t.Fatal("claim returned the wrong signed prekey")
			}
			if c.OneTime == nil && !c.KEMOneTime {
				if !bytes.Equal(c.KEM, up.LastResort.Encoded) {
					t.Fatal("fallback claim did not return the last-resort prekey")
				}
				fallbacks++
				continue
			}
			// A claim may find the last prekeys of one kind taken by
			// claims still in flight (SKIP LOCKED) while it gets one of
			// the other kind: what matters is that none goes twice.
			if c.OneTime != nil {
				takeOne(t, "one-time", ot, c.OneTime)
			}
			if c.KEMOneTime {
				takeOne(t, "one-time KEM", kem, c.KEM)
			} else if !bytes.Equal(c.KEM, up.LastResort.Encoded) {
				t.Fatal("claim returned neither a one-time nor the last-resort KEM prekey")
			}
		}
	}
	if len(ot) != 0 || len(kem) != 0 {
		t.Fatalf("%d one-time and %d one-time KEM prekeys never handed out", len(ot), len(kem))
	}
	if fallbacks != workers {
		t.Fatalf("%d fallback claims, want %d", fallbacks, workers)
	}
	f.counts("alice", 1, 0, 0)
	c := f.claimOne("alice")
	if c.OneTime != nil || c.KEMOneTime || !bytes.Equal(c.KEM, up.LastResort.Encoded) {
		t.Fatal("claim after the last one-time prekeys did not fall back")
	}
}

// BenchmarkClaim measures parallel ClaimPrekeys calls, each taking one
// one-time prekey of each kind from one device. open returns a new, empty
// store and arranges for it to be closed. It reports claims/s.
func BenchmarkClaim(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	ctx := b.Context()
	rnd := testrand.New("storetest BenchmarkClaim")
	now := time.Unix(time.Now().Unix(), 0)
	ak, err := keys.GenerateAccountKey(rnd)
	if err != nil {
		b.Fatal(err)
	}
	dk, err := keys.GenerateDeviceKeys(rnd)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := ak.CertifyDevice("bench", 1, dk.Public(), now)
	if err != nil {
		b.Fatal(err)
	}
	d := store.Device{ID: 1, Certificate: cert.Marshal()}
	_, err = s.UpdateKeySet(ctx, store.KeySetUpdate{Handle: "bench", AccountKey: ak.Public(), AddDevice: &d,
		Leaf: []byte("bench leaf"), Now: now})
	if err != nil {
		b.Fatal(err)
	}
	gen := func(kind keys.PrekeyKind, id uint32) store.Prekey {
		_, p, err := dk.GeneratePrekey(rnd, kind, id)
		if err != nil {
			b.Fatal(err)
		}
		return store.Prekey{ID: id, Encoded: p.Marshal()}
	}
	// One-time prekeys: distinct bytes of a real prekey's size, enough for
	// every claim (generating b.N real ML-KEM keys would dominate the run).
	otSize := len(gen(keys.OneTimePrekey, 1).Encoded)
	kemSize := len(gen(keys.OneTimeKEMPrekey, 1).Encoded)
	signed, lr := gen(keys.SignedPrekey, 1), gen(keys.LastResortKEMPrekey, 1)
	u := store.Upload{Handle: "bench", Device: 1, Signed: &signed, LastResort: &lr, MaxOneTime: b.N + 1}
	const batch = 1000
	for first := 0; first < b.N; first += batch {
		u.OneTime, u.OneTimeKEM = nil, nil
		for id := first; id < min(first+batch, b.N); id++ {
			u.OneTime = append(u.OneTime, randomPrekey(rnd, uint32(id+1), otSize))
			u.OneTimeKEM = append(u.OneTimeKEM, randomPrekey(rnd, uint32(id+1), kemSize))
		}
		if err := s.UploadPrekeys(ctx, u); err != nil {
			b.Fatal(err)
		}
		u.Signed, u.LastResort = nil, nil
	}
	// Claims arrive concurrently from many clients; 32 goroutines per CPU
	// let the engines group their commits as a busy server would.
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cs, err := s.ClaimPrekeys(ctx, "bench")
			if err != nil {
				b.Error(err)
				return
			}
			if len(cs) != 1 || cs[0].OneTime == nil || !cs[0].KEMOneTime {
				b.Error("claim without one-time prekeys")
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

func randomPrekey(rnd io.Reader, id uint32, size int) store.Prekey {
	p := store.Prekey{ID: id, Encoded: make([]byte, size)}
	_, _ = io.ReadFull(rnd, p.Encoded) // testrand readers never fail
	return p
}

// BenchmarkLookup measures parallel reads of an account's key set (the
// directory part of a lookup) for an account with three devices.
func BenchmarkLookup(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	ctx := b.Context()
	rnd := testrand.New("storetest BenchmarkLookup")
	now := time.Unix(time.Now().Unix(), 0)
	ak, err := keys.GenerateAccountKey(rnd)
	if err != nil {
		b.Fatal(err)
	}
	for id := uint32(1); id <= 3; id++ {
		dk, err := keys.GenerateDeviceKeys(rnd)
		if err != nil {
			b.Fatal(err)
		}
		cert, err := ak.CertifyDevice("bench", keys.DeviceID(id), dk.Public(), now)
		if err != nil {
			b.Fatal(err)
		}
		_, err = s.UpdateKeySet(ctx, store.KeySetUpdate{Handle: "bench", ExpectedVersion: uint64(id - 1), AccountKey: ak.Public(),
			AddDevice: &store.Device{ID: id, Certificate: cert.Marshal()}, Leaf: fmt.Appendf(nil, "bench leaf %d", id), Now: now})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a, err := s.Account(ctx, "bench")
			if err != nil || len(a.Devices) != 3 {
				b.Errorf("lookup: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}
