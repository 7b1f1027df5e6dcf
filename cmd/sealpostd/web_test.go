package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// webDir writes a small web client directory: index.html, a hashed
// script with its .br and .gz, a module with only a .gz, an unhashed file, a file whose name claims a hash
// it does not have, a hidden file, a subdirectory, and a symbolic link to
// a file outside; secret is that outside file's content.
func webDir(t *testing.T) (dir, hashedJS, wrongHash string, secret []byte) {
	t.Helper()
	top := t.TempDir()
	dir = filepath.Join(top, "web")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret = []byte("the TLS key")
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(top, "tls-key.pem"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	js := []byte("console.log('sealpost');\n")
	sum := sha256.Sum256(js)
	hashedJS = "app." + hex.EncodeToString(sum[:])[:hashedLen] + ".js"
	write(hashedJS, js)
	write(hashedJS+".gz", compressGzip(t, js))
	write(hashedJS+".br", compressBrotli(t, js))
	write("index.html", []byte("<!doctype html><title>Sealpost</title>"))
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	write("sealpost.wasm", wasm)
	write("sealpost.wasm.gz", compressGzip(t, wasm))
	wrongHash = "style.0123456789abcdef.css"
	write(wrongHash, []byte("body{}"))
	write(".hidden", []byte("hidden"))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(top, "tls-key.pem"), filepath.Join(dir, "key.txt")); err != nil {
		t.Fatal(err)
	}
	return dir, hashedJS, wrongHash, secret
}

func compressGzip(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func compressBrotli(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	bw := brotli.NewWriterLevel(&b, brotli.BestCompression)
	bw.Write(data)
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// decodeBody returns a response body decoded as its Content-Encoding says.
func decodeBody(t *testing.T, what string, w *httptest.ResponseRecorder) []byte {
	t.Helper()
	body := w.Body.Bytes()
	var r io.Reader
	switch enc := w.Header().Get("Content-Encoding"); enc {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	default:
		t.Fatalf("%s: Content-Encoding %q", what, enc)
	}
	dec, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: decoding %s: %v", what, w.Header().Get("Content-Encoding"), err)
	}
	return dec
}

func webGet(t *testing.T, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.Host = "chat.example.org:8443"
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkWebHeaders checks the security headers every answer carries.
func checkWebHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{
		"default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "connect-src 'self' wss://chat.example.org:8443",
		"img-src 'self' blob: data:", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "style-src 'self'",
	} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") {
		t.Errorf("%s: Content-Security-Policy allows inline or eval: %q", what, csp)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
	if got := h.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q", what, got)
	}
}

func TestWebHeaders(t *testing.T) {
	dir, hashedJS, wrongHash, _ := webDir(t)
	h, err := newWebHandler(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, tc := range []struct {
		path, accept         string
		ctype, cache, encode string
	}{
		{"/web/", "", "text/html; charset=utf-8", webCachePage, ""},
		{"/web/index.html", "gzip", "text/html; charset=utf-8", webCachePage, ""},
		{"/web/sealpost.wasm", "", "application/wasm", webCachePage, ""},
		{"/web/" + hashedJS, "", "text/javascript; charset=utf-8", webCacheHashed, ""},
		{"/web/" + hashedJS, "gzip, deflate, br, zstd", "text/javascript; charset=utf-8", webCacheHashed, "br"},
		{"/web/" + hashedJS, "gzip, deflate", "text/javascript; charset=utf-8", webCacheHashed, "gzip"},
		{"/web/" + hashedJS, "br;q=0, gzip;q=0", "text/javascript; charset=utf-8", webCacheHashed, ""},
		{"/web/" + hashedJS + ".br", "br", "application/octet-stream", webCacheHashed, ""},
		{"/web/" + wrongHash, "", "text/css; charset=utf-8", webCachePage, ""},
	} {
		w := webGet(t, h, "GET", tc.path, map[string]string{"Accept-Encoding": tc.accept})
		what := tc.path + " (" + tc.accept + ")"
		if w.Code != http.StatusOK {
			t.Errorf("%s: %d", what, w.Code)
			continue
		}
		checkWebHeaders(t, what, w.Header())
		if got := w.Header().Get("Content-Type"); got != tc.ctype {
			t.Errorf("%s: Content-Type %q, want %q", what, got, tc.ctype)
		}
		if got := w.Header().Get("Cache-Control"); got != tc.cache {
			t.Errorf("%s: Cache-Control %q, want %q", what, got, tc.cache)
		}
		if got := w.Header().Get("Content-Encoding"); got != tc.encode {
			t.Errorf("%s: Content-Encoding %q, want %q", what, got, tc.encode)
		}
		if got := w.Header().Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("%s: Vary %q", what, got)
		}
		body := decodeBody(t, what, w)
		want, _ := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(tc.path, "/web/")))
		if tc.path == "/web/" {
			want, _ = os.ReadFile(filepath.Join(dir, "index.html"))
		}
		if !bytes.Equal(body, want) {
			t.Errorf("%s: body %q, want %q", what, body, want)
		}
	}
	// A changed file under a hashed name loses its immutable caching.
	if err := os.WriteFile(filepath.Join(dir, hashedJS), []byte("alert('changed, longer');\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w := webGet(t, h, "GET", "/web/"+hashedJS, nil); w.Header().Get("Cache-Control") != webCachePage {
		t.Errorf("changed hashed file: Cache-Control %q", w.Header().Get("Cache-Control"))
	}
	// A Host that is not a plain host[:port] adds nothing to connect-src.
	r := httptest.NewRequest("GET", "/web/", nil)
	r.Host = "x; script-src *"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if csp := w.Header().Get("Content-Security-Policy"); strings.Contains(csp, "*") || !strings.HasSuffix(csp, "connect-src 'self'") {
		t.Errorf("odd Host: Content-Security-Policy %q", csp)
	}
}

// TestWebEncoding: the .br when the browser takes brotli, else the .gz
// when it takes gzip, else the file itself; a coding refused with q=0 is
// never used, even under "*"; a file without a variant is served as it
// is. Every answer decodes to the file.
func TestWebEncoding(t *testing.T) {
	dir, hashedJS, _, _ := webDir(t)
	h, err := newWebHandler(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, tc := range []struct {
		file, accept, want string
	}{
		{hashedJS, "gzip, deflate, br, zstd", "br"}, // Chromium over HTTPS
		{hashedJS, "br", "br"},
		{hashedJS, "BR;q=0.5", "br"},
		{hashedJS, "gzip;q=1, br;q=0.1", "br"}, // the server's preference among the accepted
		{hashedJS, "gzip, deflate", "gzip"},    // Chromium over plain HTTP
		{hashedJS, "x-gzip", "gzip"},
		{hashedJS, "br;q=0, gzip", "gzip"},
		{hashedJS, "br;q=0.000, gzip;q=0.8", "gzip"},
		{hashedJS, "*", "br"},
		{hashedJS, "*, br;q=0", "gzip"},
		{hashedJS, "br;q=0, gzip;q=0, *", ""},
		{hashedJS, "*;q=0", ""},
		{hashedJS, "identity", ""},
		{hashedJS, "deflate, zstd", ""},
		{hashedJS, "", ""},
		{"sealpost.wasm", "gzip, deflate, br, zstd", "gzip"}, // no .br
		{"sealpost.wasm", "br", ""},
		{"index.html", "gzip, deflate, br, zstd", ""}, // no variant
	} {
		what := tc.file + " (" + tc.accept + ")"
		w := webGet(t, h, "GET", "/web/"+tc.file, map[string]string{"Accept-Encoding": tc.accept})
		if w.Code != http.StatusOK {
			t.Errorf("%s: %d", what, w.Code)
			continue
		}
		if got := w.Header().Get("Content-Encoding"); got != tc.want {
			t.Errorf("%s: Content-Encoding %q, want %q", what, got, tc.want)
		}
		if got := w.Header().Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("%s: Vary %q", what, got)
		}
		want, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if body := decodeBody(t, what, w); !bytes.Equal(body, want) {
			t.Errorf("%s: decoded body %q, want %q", what, body, want)
		}
	}
}

// TestWebRefused: nothing outside the directory, no hidden file, no
// directory, no other method.
func TestWebRefused(t *testing.T) {
	dir, _, _, secret := webDir(t)
	h, err := newWebHandler(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, p := range []string{
		"/web/../tls-key.pem", "/web/..%2ftls-key.pem", "/web/%2e%2e/tls-key.pem", "/web/..", "/web/.hidden",
		"/web/sub", "/web/sub/", "/web/key.txt", "/web//etc/passwd", "/web/a\\..\\tls-key.pem", "/web/nothing.js",
		"/tls-key.pem", "/webindex.html",
	} {
		r := httptest.NewRequest("GET", "/web/", nil)
		r.Host = "chat.example.org:8443"
		r.URL.Path = mustUnescape(t, p)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, w.Code)
		}
		if bytes.Contains(w.Body.Bytes(), secret) {
			t.Errorf("%s: served the file outside the directory", p)
		}
		checkWebHeaders(t, p, w.Header())
	}
	w := webGet(t, h, "POST", "/web/index.html", nil)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if w := webGet(t, h, "HEAD", "/web/index.html", nil); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
}

func mustUnescape(t *testing.T, p string) string {
	t.Helper()
	r, err := http.NewRequest("GET", "https://x"+p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.URL.Path
}

func TestWebValidate(t *testing.T) {
	dir, _, _, _ := webDir(t)
	empty := t.TempDir()
	file := filepath.Join(dir, "index.html")
	for _, tc := range []struct {
		dir  string
		want string
	}{
		{dir, ""},
		{"", ""},
		{empty, "has no index.html"},
		{file, "is not a directory"},
		{filepath.Join(empty, "none"), "no such file"},
	} {
		c := DefaultConfig()
		c.Web = tc.dir
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("--web %q: %v", tc.dir, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "--web: ") || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("--web %q: %v, want %q", tc.dir, err, tc.want)
		}
	}
}

// TestDaemonWeb serves a web client on the TLS listener beside the key
// server: GET / redirects to it, the APIs are unchanged.
func TestDaemonWeb(t *testing.T) {
	dir, _, _, _ := webDir(t)
	d := start(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0", "--web", dir)
	c := d.client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := get(t, c, "https://"+d.addr+"/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != webPrefix {
		t.Errorf("GET /: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := get(t, c, "https://"+d.addr+"/web/")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("<title>Sealpost</title>")) {
		t.Errorf("GET /web/: %s %q", resp.Status, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' wss://"+d.addr) {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	resp, body = get(t, c, "https://"+d.addr+"/.well-known/sealpost-keyserver")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("token_key")) {
		t.Errorf("well-known document: %s %q", resp.Status, body)
	}
}
