package s3_test

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/blobs/store/s3"
	"github.com/sealpost/sealpost/blobs/store/storetest"
	"github.com/sealpost/sealpost/internal/versitygwtest"
)

// config returns a Config on srv's bucket with a prefix of its own, so
// that engines on one server share nothing.
func config(srv *versitygwtest.Server) s3.Config {
	return s3.Config{
		Endpoint:  srv.Endpoint,
		Bucket:    srv.Bucket,
		Prefix:    "t" + rand.Text()[:10] + "/",
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Region:    versitygwtest.Region,
	}
}

func open(t testing.TB, srv *versitygwtest.Server) *s3.Engine {
	t.Helper()
	e, err := s3.Open(context.Background(), config(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestConformance runs the suite against one versitygw, each case on a
// prefix of its own.
func TestConformance(t *testing.T) {
	srv := versitygwtest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Engine { return open(t, srv) })
}

func BenchmarkEngine(b *testing.B) {
	srv := versitygwtest.Start(b)
	e := open(b, srv)
	b.Run("s3", func(b *testing.B) { storetest.Bench(b, e) })
}
