package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"testing"
)

// TestDaemonAdminListener checks that /metrics and /debug/pprof/ are
// absent from the public TLS listener (404, as any unknown path) and served
// by the admin listener, and that both answer /healthz and /readyz
// (issue 10: /metrics was served on the public listener).
func TestDaemonAdminListener(t *testing.T) {
	for _, services := range []string{"keyserver,relay", "keyserver"} {
		t.Run(services, func(t *testing.T) {
			d := start(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0",
				"--services", services, "--admin-listen", "127.0.0.1:0")
			if d.admin == "" {
				t.Fatal("no admin line")
			}
			pub := "https://" + d.addr
			for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
				resp, body := get(t, d.client(), pub+path)
				if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("go_goroutines")) || bytes.Contains(body, []byte("profile")) {
					t.Errorf("public %s: %s %.80q, want 404 and nothing of it", path, resp.Status, body)
				}
			}
			resp, body := get(t, http.DefaultClient, d.admin+"/metrics")
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("go_goroutines")) || !bytes.Contains(body, []byte("sealpost_keyserver_")) {
				t.Errorf("admin /metrics: %s, metrics missing", resp.Status)
			}
			resp, body = get(t, http.DefaultClient, d.admin+"/debug/pprof/")
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("goroutine")) {
				t.Errorf("admin /debug/pprof/: %s", resp.Status)
			}
			resp, _ = get(t, http.DefaultClient, d.admin+"/debug/pprof/heap?debug=1")
			if resp.StatusCode != http.StatusOK {
				t.Errorf("admin /debug/pprof/heap: %s", resp.Status)
			}
			for _, base := range []string{pub, d.admin} {
				c := http.DefaultClient
				if base == pub {
					c = d.client()
				}
				for _, path := range []string{"/healthz", "/readyz"} {
					resp, body := get(t, c, base+path)
					if resp.StatusCode != http.StatusOK || string(body) != `{"status":"ok"}`+"\n" {
						t.Errorf("%s%s: %s %q", base, path, resp.Status, body)
					}
				}
			}
			// The admin listener serves nothing of the public API.
			resp, _ = get(t, http.DefaultClient, d.admin+"/.well-known/sealpost-keyserver")
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("admin well-known: %s, want 404", resp.Status)
			}
			d.stop(t)
		})
	}
}

// TestDaemonAdminListenerOff checks that without --admin-listen nothing
// serves /metrics: the public listener answers 404.
func TestDaemonAdminListenerOff(t *testing.T) {
	d := start(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0")
	if d.admin != "" {
		t.Errorf("admin listener %s started without --admin-listen", d.admin)
	}
	resp, _ := get(t, d.client(), "https://"+d.addr+"/metrics")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics: %s, want 404", resp.Status)
	}
	d.stop(t)
}
