package postgres_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/storetest"
)

// BenchmarkClaimParallel measures parallel claims, each consuming a
// one-time X25519 and a one-time ML-KEM prekey (sizes as in spec/keys.md).
// The keys are spread over accounts of one device with perDevice keys of
// each kind, so concurrent claimers mostly share a device, as they do for
// a popular handle.
func BenchmarkClaimParallel(b *testing.B) {
	const perDevice = 500
	s := open(b, pgtest.DSN(b))
	ctx := b.Context()
	accounts := (b.N + perDevice - 1) / perDevice
	for a := range accounts {
		handle := fmt.Sprintf("user%d", a)
		if _, err := create(ctx, s, handle); err != nil {
			b.Fatal(err)
		}
		up := store.Upload{
			Handle: handle, Device: 1, MaxOneTime: perDevice,
			Signed:     &store.Prekey{ID: 1, Encoded: make([]byte, 110)},
			LastResort: &store.Prekey{ID: 2, Encoded: make([]byte, 1270)},
		}
		for i := range perDevice {
			up.OneTime = append(up.OneTime, store.Prekey{ID: uint32(i + 1), Encoded: fmt.Appendf(make([]byte, 0, 110), "%0110d", i)})
			up.OneTimeKEM = append(up.OneTimeKEM, store.Prekey{ID: uint32(i + 1), Encoded: fmt.Appendf(make([]byte, 0, 1270), "%01270d", i)})
		}
		if err := s.UploadPrekeys(ctx, up); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(16)
	cpu := storetest.StartCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			handle := fmt.Sprintf("user%d", (next.Add(1)-1)/perDevice)
			cs, err := s.ClaimPrekeys(ctx, handle)
			if err != nil || len(cs) != 1 || cs[0].OneTime == nil || !cs[0].KEMOneTime {
				b.Errorf("claim from %s: %d claims, %v", handle, len(cs), err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
	cpu.Report(b)
}

// BenchmarkAccountParallel measures parallel reads of an account with
// three devices (the key-directory part of a lookup).
func BenchmarkAccountParallel(b *testing.B) {
	s := open(b, pgtest.DSN(b))
	ctx := b.Context()
	if _, err := create(ctx, s, "alice"); err != nil {
		b.Fatal(err)
	}
	for v := uint64(1); v <= 2; v++ {
		if _, err := s.UpdateKeySet(ctx, store.KeySetUpdate{
			Handle: "alice", ExpectedVersion: v, Leaf: []byte("leaf"), Now: now,
			AddDevice: &store.Device{ID: uint32(v + 1), Certificate: make([]byte, 150)},
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetParallelism(4)
	cpu := storetest.StartCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if a, err := s.Account(ctx, "alice"); err != nil || len(a.Devices) != 3 {
				b.Errorf("Account: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	cpu.Report(b)
}

// BenchmarkCreateParallel measures parallel account creations; each locks
// the log head, so they run one at a time in the database.
func BenchmarkCreateParallel(b *testing.B) {
	s := open(b, pgtest.DSN(b))
	ctx := b.Context()
	var next atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := create(ctx, s, fmt.Sprintf("user%d", next.Add(1))); err != nil {
				b.Errorf("create: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}
