package client

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/blobs/store/s3"
	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/internal/versitygwtest"
)

// BenchmarkFileTransfer moves a file from alice to bob through the blob
// service over loopback TLS 1.3, in process: upload is SendFile (encrypt
// into the spool, upload, send the pointer; spool-MB/s and upload-MB/s
// give its two phases apart), download is Download (fetch and check into
// the spool, decrypt). Client, service and both spools share one disk. The file is 256 MiB, or
// $SEALPOST_BENCH_FILE_SIZE bytes; MB/s is of the file.
//
//	go test -run XXX -bench FileTransfer -benchtime 1x ./client/
func BenchmarkFileTransfer(b *testing.B) {
	size := 256 << 20
	if v := os.Getenv("SEALPOST_BENCH_FILE_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("SEALPOST_BENCH_FILE_SIZE=%q", v)
		}
		size = n
	}
	b.Run("fs", func(b *testing.B) { benchTransfer(b, size, nil) })
	b.Run("s3", func(b *testing.B) {
		vg := versitygwtest.Start(b)
		eng, err := s3.Open(b.Context(), s3.Config{Endpoint: vg.Endpoint, Bucket: vg.Bucket, AccessKey: vg.AccessKey, SecretKey: vg.SecretKey, Region: versitygwtest.Region})
		if err != nil {
			b.Fatal(err)
		}
		benchTransfer(b, size, eng)
	})
}

func benchTransfer(b *testing.B, size int, eng store.Engine) {
	s := startServersEngine(b, engineSQLite, nil, nil, eng)
	alice := s.newUser("alice")
	bob := s.newUser("bob")
	file := make([]byte, size)
	for i := range file {
		file[i] = byte(i * 7)
	}
	var atts []*Attachment
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(int64(size))
		var spool, upload time.Duration
		for range b.N {
			// The two phases of SendFile, told apart by the progress
			// reports: encrypting into the spool (the file's bytes),
			// then uploading (the ciphertext's).
			start := time.Now()
			var upStart time.Time
			progress := WithProgress(func(done, total int64) {
				if total != int64(size) && upStart.IsZero() {
					upStart = time.Now()
				}
			})
			if _, err := alice.SendFile(b.Context(), "bob", bytes.NewReader(file), FileInfo{Size: int64(size)}, progress); err != nil {
				b.Fatal(err)
			}
			spool += upStart.Sub(start)
			upload += time.Since(upStart)
			b.StopTimer()
			m := recvKindTB(b, bob, content.KindAttachment)
			atts = append(atts, AttachmentOf(m.Content))
			m.Ack()
			b.StartTimer()
		}
		mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / 1e6 / d.Seconds() }
		b.ReportMetric(mbps(spool), "spool-MB/s")
		b.ReportMetric(mbps(upload), "upload-MB/s")
	})
	b.Run("download", func(b *testing.B) {
		b.SetBytes(int64(size))
		for i := range b.N {
			if err := bob.Download(b.Context(), atts[i%len(atts)], io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// recvKindTB waits up to a minute for the next message of kind.
func recvKindTB(tb testing.TB, c *Client, kind content.Kind) *Message {
	tb.Helper()
	select {
	case m := <-c.Messages():
		if m.Content.Kind() != kind {
			tb.Fatalf("got a %v message, want %v", m.Content.Kind(), kind)
		}
		return m
	case <-time.After(time.Minute):
		tb.Fatal("no message in a minute")
	}
	return nil
}
