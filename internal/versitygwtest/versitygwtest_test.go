package versitygwtest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestInstall builds (or finds) the versitygw binary. .ci/run runs it
// alone before the tests, so that the build happens once.
func TestInstall(t *testing.T) {
	dir, err := Install()
	if err != nil {
		t.Fatal(err)
	}
	if !tool.Installed(dir) {
		t.Fatalf("versitygw not in %s", dir)
	}
	if got, _ := Dir(); got != dir {
		t.Fatalf("Install put it in %s, Dir says %s", dir, got)
	}
	if filepath.Base(dir) != "versitygw-"+Version && !strings.Contains(dir, "SEALPOST") {
		t.Logf("binary in %s", dir)
	}
}

// TestStartStop starts a server: its bucket takes an object that reads
// back, a wrong secret is refused, and once stopped it refuses
// connections.
func TestStartStop(t *testing.T) {
	s := Start(t)
	t.Logf("versitygw started in %v", s.Started)
	ctx := context.Background()
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: Region})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("hello, bucket")
	if _, err := c.PutObject(ctx, s.Bucket, "o", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, s.Bucket, "o", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GetObject: %q, %v", got, err)
	}
	bad, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey+"x", ""), Region: Region})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.StatObject(ctx, s.Bucket, "o", minio.StatObjectOptions{}); err == nil {
		t.Fatal("a wrong secret key is accepted")
	}
	s.Stop()
	if resp, err := http.Get("http://" + s.Endpoint + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("stopped server still answers")
	}
}
