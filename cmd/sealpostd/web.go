package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// The browser client (--web): a directory that sealpost-webbuild made —
// index.html, the client compiled to WebAssembly, wasm_exec.js, the page's
// script and style, each perhaps with a .br and a .gz beside it (brotli
// and gzip: webEncodings) — served on the TLS
// listener under webPrefix, beside the APIs (/v1/, /v2/, /.well-known/),
// never over them. The page reaches the key server and the relay on the
// same origin.

// webPrefix is the path the web client is served under; GET / redirects
// there.
const webPrefix = "/web/"

// WebConfig is the web client's part of Config (flag --web).
type WebConfig struct {
	// Web, when set, is the directory of the web client to serve under
	// /web/ (off by default).
	Web string `json:"web"`
}

// webFlags binds the --web flag to c.
func (c *WebConfig) webFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Web, "web", c.Web, "`directory` of the web client (made by sealpost-webbuild) to serve under /web/ on the TLS listener (default off)")
}

// validateWeb adds the problems with --web to bad: the directory must
// exist and hold index.html.
func (c *WebConfig) validateWeb(bad func(flag, format string, args ...any)) {
	if c.Web == "" {
		return
	}
	fi, err := os.Stat(c.Web)
	switch {
	case err != nil:
		bad("web", "%v", err)
	case !fi.IsDir():
		bad("web", "%s is not a directory", c.Web)
	default:
		if fi, err := os.Stat(c.Web + string(os.PathSeparator) + "index.html"); err != nil || !fi.Mode().IsRegular() {
			bad("web", "%s has no index.html (build it with 'go run ./cmd/sealpost-webbuild -o %s')", c.Web, c.Web)
		}
	}
}

// Response headers of the web client (web/README.md, "Serving").
const (
	// webCachePage makes the browser ask again every time (a 304 when
	// unchanged): index.html names every other file with its
	// Subresource Integrity hash, so a changed file is noticed there.
	webCachePage = "no-cache"
	// webCacheHashed is for names that carry their content's hash,
	// which change whenever the content does.
	webCacheHashed = "public, max-age=31536000, immutable"
)

// webCSP is the Content-Security-Policy of every response under
// webPrefix, with connect-src completed by webConnectSrc: scripts,
// styles and the WebAssembly module only from this origin (SRI-checked
// by index.html), no inline script or style, no plugins, no <base>, no
// framing, no form submissions, no string-to-script sinks.
const webCSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
	"img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; " +
	"form-action 'none'; require-trusted-types-for 'script'; connect-src 'self'"

// webConnectSrc adds the relay's WebSocket on the page's own host to
// connect-src ('self' covers same-origin wss: in current browsers, not
// in all): the host as the browser sent it, if it is a plain host[:port].
func webConnectSrc(host string) string {
	if host == "" || len(host) > 255 {
		return ""
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-:[]", c) >= 0) {
			return ""
		}
	}
	return " wss://" + host
}

// webTypes are the content types of the files a web client has; other
// files are application/octet-stream (and never sniffed: nosniff).
var webTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".wasm": "application/wasm",
	".json": "application/json",
	".png":  "image/png",
	".svg":  "image/svg+xml",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
	".gz":   "application/gzip",
	".br":   "application/octet-stream",
}

// webEncodings are the compressed variants a file may have beside it
// (sealpost-webbuild writes both), in the order they are preferred: a
// browser that accepts brotli gets NAME.br, one that accepts gzip but
// not brotli NAME.gz, another NAME itself. The Subresource Integrity
// hashes of index.html are over the decoded content, so each variant
// passes the check.
var webEncodings = []struct {
	coding  string   // the Content-Encoding
	ext     string   // the suffix of the file
	aliases []string // other names of coding in Accept-Encoding
}{
	{"br", ".br", nil},
	{"gzip", ".gz", []string{"x-gzip"}},
}

// webHandler serves the files of one directory, flat: a name is one path
// element of letters, digits, '.', '_' and '-' that does not begin with
// '.', opened through an os.Root, so neither a name nor a symbolic link
// in the directory reaches outside it.
type webHandler struct {
	root *os.Root

	mu     sync.Mutex
	hashed map[string]hashCheck // name -> the last check of its hash
}

// hashCheck is the outcome of checking that a hashed name's hash is its
// content's, for the file's size and time then.
type hashCheck struct {
	size  int64
	mtime time.Time
	ok    bool
}

// newWebHandler opens dir for serving.
func newWebHandler(dir string) (*webHandler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("web client: %w", err)
	}
	return &webHandler{root: root, hashed: map[string]hashCheck{}}, nil
}

// Close releases the directory.
func (h *webHandler) Close() error { return h.root.Close() }

func (h *webHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", webCSP+webConnectSrc(r.Host))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := webFileName(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	f, fi, err := h.open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	ctype, ok := webTypes[path.Ext(name)]
	if !ok {
		ctype = "application/octet-stream"
	}
	hd.Set("Content-Type", ctype)
	if h.isHashed(name, f, fi) {
		hd.Set("Cache-Control", webCacheHashed)
	} else {
		hd.Set("Cache-Control", webCachePage)
	}
	hd.Add("Vary", "Accept-Encoding")
	body, modTime := io.ReadSeeker(f), fi.ModTime()
	if _, variant := cutEncodingExt(name); !variant {
		accept := r.Header.Get("Accept-Encoding")
		for _, e := range webEncodings {
			if !acceptsEncoding(accept, e.coding, e.aliases...) {
				continue
			}
			if ef, efi, err := h.open(name + e.ext); err == nil {
				defer ef.Close()
				hd.Set("Content-Encoding", e.coding)
				body, modTime = ef, efi.ModTime()
				break
			}
		}
	}
	http.ServeContent(w, r, name, modTime, body)
}

// cutEncodingExt returns the name a compressed variant (webEncodings) is
// of, and whether name is one.
func cutEncodingExt(name string) (string, bool) {
	for _, e := range webEncodings {
		if base, ok := strings.CutSuffix(name, e.ext); ok {
			return base, true
		}
	}
	return name, false
}

// open opens a regular file of the directory.
func (h *webHandler) open(name string) (*os.File, fs.FileInfo, error) {
	f, err := h.root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, errors.New("not a regular file")
	}
	return f, fi, nil
}

// webFileName returns the file that a path under webPrefix names:
// index.html for the prefix itself. ok is false for anything but one
// plain name (webHandler).
func webFileName(p string) (name string, ok bool) {
	name, ok = strings.CutPrefix(p, webPrefix)
	if !ok {
		return "", false
	}
	if name == "" {
		return "index.html", true
	}
	if len(name) > 255 || name[0] == '.' {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", false
		}
	}
	return name, true
}

// hashedLen is the length of the hash in a hashed name: the first 8
// bytes of the content's SHA-256 in hex, as sealpost-webbuild names
// files: app.0123456789abcdef.js.
const hashedLen = 16

// hashOfName returns the hash a name claims (NAME.HASH.EXT, or with .br
// or .gz after EXT), if any.
func hashOfName(name string) (string, bool) {
	name, _ = cutEncodingExt(name)
	parts := strings.Split(name, ".")
	if len(parts) < 3 {
		return "", false
	}
	h := parts[len(parts)-2]
	if len(h) != hashedLen || strings.Trim(h, "0123456789abcdef") != "" {
		return "", false
	}
	return h, true
}

// isHashed reports whether name is a hashed name whose hash is its
// content's: only those are cached for good. A .br or .gz variant counts
// when the file it is a variant of does. The outcome is kept while the
// file's size and time stay the same.
func (h *webHandler) isHashed(name string, f *os.File, fi fs.FileInfo) bool {
	want, ok := hashOfName(name)
	if !ok {
		return false
	}
	if base, variant := cutEncodingExt(name); variant {
		bf, bfi, err := h.open(base)
		if err != nil {
			return false
		}
		defer bf.Close()
		return h.isHashed(base, bf, bfi)
	}
	h.mu.Lock()
	c, seen := h.hashed[name]
	h.mu.Unlock()
	if seen && c.size == fi.Size() && c.mtime.Equal(fi.ModTime()) {
		return c.ok
	}
	sum := sha256.New()
	_, err := io.Copy(sum, f)
	if _, serr := f.Seek(0, io.SeekStart); err == nil {
		err = serr
	}
	ok = err == nil && hex.EncodeToString(sum.Sum(nil))[:hashedLen] == want
	h.mu.Lock()
	h.hashed[name] = hashCheck{size: fi.Size(), mtime: fi.ModTime(), ok: ok}
	h.mu.Unlock()
	return ok
}

// acceptsEncoding reports whether an Accept-Encoding header (RFC 9110
// §12.5.3) takes coding (or one of its aliases): named without q=0, or
// not named and "*" without q=0.
func acceptsEncoding(header, coding string, aliases ...string) bool {
	named, star := false, false
	for _, part := range strings.Split(header, ",") {
		c, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		c = strings.ToLower(strings.TrimSpace(c))
		switch {
		case c == coding || slices.Contains(aliases, c):
			if qZero(params) {
				return false // refused by name, whatever "*" says
			}
			named = true
		case c == "*":
			star = !qZero(params)
		}
	}
	return named || star
}

// qZero reports whether the parameters of an Accept-Encoding element give
// it a weight of zero ("q=0", "q=0.000"): not acceptable.
func qZero(params string) bool {
	q := strings.ReplaceAll(strings.ToLower(params), " ", "")
	return strings.HasPrefix(q, "q=0") && strings.Trim(strings.TrimPrefix(q, "q="), "0.") == ""
}

// webRedirect sends GET / to the web client.
func webRedirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, webPrefix, http.StatusFound)
}
