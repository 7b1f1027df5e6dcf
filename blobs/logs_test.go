package blobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/meta"
)

// TestLogsHoldNoSecrets: after uploads that complete, fail their digest
// and stall, the logs hold no blob id, upload id, engine key or token
// whole.
func TestLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	data, _ := ciphertext("logs", 4000)
	id := e.upload("alice", data)
	b, err := e.meta.Blob(ctx, id, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := ciphertext("logs bad", 4000)
	cr := e.create("alice", bad)
	u, err := e.meta.Upload(ctx, "alice", cr.UploadID, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	bad[0] ^= 1
	if _, _, err := e.client("alice").PutPart(ctx, cr.UploadID, 0, bytes.NewReader(bad), int64(len(bad))); err == nil {
		t.Fatal("a wrong digest was taken")
	}
	stalled := e.create("alice", data[:3000])
	e.rawPatch(stalled.UploadID, 0, 3000, data[:10], true)
	tok := e.bearer("alice")
	logs := e.logs.String()
	if !strings.Contains(logs, "upload complete") || !strings.Contains(logs, "not received whole") {
		t.Fatalf("the logs lack the events:\n%s", logs)
	}
	for name, secret := range map[string]string{
		"blob id": api.EncodeID(id), "upload id": api.EncodeID(cr.UploadID), "stalled upload id": api.EncodeID(stalled.UploadID),
		"blob key": b.Key, "upload key": u.Key, "token": tok,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold the %s whole:\n%s", name, logs)
		}
	}
}

func TestHideKey(t *testing.T) {
	const key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	err := hideKey(fmt.Errorf("open /data/%s/part: %w", key, meta.ErrUnavailable), key)
	if strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "abcdefgh…") {
		t.Errorf("hideKey: %v", err)
	}
	if !errors.Is(err, meta.ErrUnavailable) || !unavailable(err) {
		t.Error("hideKey hides the error's kind")
	}
	for _, err := range []error{fmt.Errorf("fs: %w", syscall.ENOSPC), fmt.Errorf("fs: %w", syscall.EIO), meta.ErrUnavailable} {
		if e := internal("x", err); e.status != 503 || e.code != api.CodeUnavailable || e.header["Retry-After"] == "" {
			t.Errorf("internal(%v) = %d %s", err, e.status, e.code)
		}
	}
	if e := internal("x", errors.New("bug")); e.status != 500 || e.code != api.CodeInternal {
		t.Errorf("internal(bug) = %d %s", e.status, e.code)
	}
}
