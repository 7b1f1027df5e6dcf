package witnesstest

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstall builds (or finds) the witness binaries. .ci/run runs it
// alone before the tests, so that the build happens once.
func TestInstall(t *testing.T) {
	dir, err := Install()
	if err != nil {
		t.Fatal(err)
	}
	if !tool.Installed(dir) {
		t.Fatalf("litewitness, witnessctl not in %s", dir)
	}
	if got, _ := Dir(); got != dir {
		t.Fatalf("Install put them in %s, Dir says %s", dir, got)
	}
	if filepath.Base(dir) != "torchwood-"+Version && !strings.Contains(dir, "SEALPOST") {
		t.Logf("binaries in %s", dir)
	}
}

// TestStartStop starts a witness that knows no log: it answers
// add-checkpoint for an unknown origin without a cosignature, and refuses
// connections once stopped.
func TestStartStop(t *testing.T) {
	w := Start(t, "witness.test/solo", nil)
	t.Logf("litewitness started in %v (%s)", w.Started, w.VKey)
	body := "old 0\n\nexample.test/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.test/log AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	resp, err := http.Post(w.URL+"/add-checkpoint", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// C2SP tlog-witness says 404 for an unknown origin; litewitness
	// v0.6.1 answers 403. Either way: no cosignature.
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unknown log: status %d, want 404 or 403", resp.StatusCode)
	}
	w.Stop()
	if _, err := http.Post(w.URL+"/add-checkpoint", "text/plain", strings.NewReader(body)); err == nil {
		t.Fatal("stopped witness still answers")
	}
}
