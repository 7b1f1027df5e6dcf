// Command sealpost-webbuild builds the web client into a directory that
// sealpostd --web serves:
//
//	go run ./cmd/sealpost-webbuild -o DIR
//
// It compiles cmd/sealpost-web to WebAssembly (GOOS=js GOARCH=wasm,
// -trimpath, -ldflags=-s -w, and inlining only in the standard library's
// crypto packages unless -inline: see noInlineFlags), copies the Go toolchain's wasm_exec.js (read
// from $(go env GOROOT)/lib/wasm at build time, never kept in the
// repository), and writes the page of package web: every file under a
// name that carries the first 16 hex digits of its SHA-256
// (app.0123456789abcdef.js), a .gz beside each, and index.html naming
// them with their Subresource Integrity hashes (sha384), the WebAssembly
// module's in a meta element that app.js fetches it with. It prints each
// file's size, raw and gzipped, and fails if the gzipped module is over
// 4 MiB (-max-wasm-gzip). It runs inside the module's source tree (the go command builds
// the module there).
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sealpost/sealpost/web"
)

// wasmPackage is the WebAssembly module's package.
const wasmPackage = "github.com/sealpost/sealpost/cmd/sealpost-web"

// MaxWasmGzip is the most the gzipped module may weigh (what a browser
// downloads on a first visit), unless -max-wasm-gzip says otherwise.
const MaxWasmGzip = 4 << 20

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "sealpost-webbuild: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sealpost-webbuild", flag.ContinueOnError)
	out := fs.String("o", "", "output `directory` (created if missing; files an earlier build wrote there are replaced)")
	maxGzip := fs.Int("max-wasm-gzip", MaxWasmGzip, "fail if the gzipped WebAssembly module is over this many `bytes`; negative: no limit")
	inline := fs.Bool("inline", false, "keep the compiler's inlining in every package (a bigger module; by default only the standard library's crypto packages are inlined)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: sealpost-webbuild -o DIR")
	}
	files, err := Build(*out, *inline)
	fmt.Fprintf(stdout, "%-40s %10s %10s\n", "file", "bytes", "gzip")
	for _, f := range files {
		fmt.Fprintf(stdout, "%-40s %10d %10d\n", f.Name, f.Size, f.Gzip)
	}
	if err != nil {
		return err
	}
	return CheckSize(files, *maxGzip)
}

// CheckSize fails if the gzipped WebAssembly module of files is over max
// bytes (max < 0: no limit).
func CheckSize(files []File, max int) error {
	for _, f := range files {
		if strings.HasSuffix(f.Name, ".wasm") && max >= 0 && f.Gzip > max {
			return fmt.Errorf("the WebAssembly module is %d bytes gzipped (%.2f MiB), over the %d allowed", f.Gzip, float64(f.Gzip)/(1<<20), max)
		}
	}
	return nil
}

// File is one file Build wrote, with its .gz.
type File struct {
	Name       string // the name in the directory, hashed but for index.html
	Integrity  string // sha384-<base64>, for index.html's integrity attributes
	Size, Gzip int    // bytes, raw and gzipped
}

// builtName matches the names a build writes, so that a later build
// removes them.
var builtName = regexp.MustCompile(`^(?:(?:sealpost|wasm_exec|app|style)\.[0-9a-f]{16}\.(?:wasm|js|css)|index\.html)(?:\.gz)?$`)

// Build builds the web client into dir and returns its files; inline
// keeps the compiler's inlining everywhere (noInlineFlags).
func Build(dir string, inline bool) ([]File, error) {
	tmp, err := os.MkdirTemp("", "sealpost-webbuild")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	wasm, err := buildWasm(tmp, inline)
	if err != nil {
		return nil, err
	}
	wasmExec, err := readWasmExec()
	if err != nil {
		return nil, err
	}
	app, err := web.Files.ReadFile("app.js")
	if err != nil {
		return nil, err
	}
	style, err := web.Files.ReadFile("style.css")
	if err != nil {
		return nil, err
	}
	page, err := template.ParseFS(web.Files, "index.html")
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := removeBuilt(dir); err != nil {
		return nil, err
	}
	var files []File
	var assets struct{ Wasm, WasmExec, App, Style File }
	for _, a := range []struct {
		base, ext string
		data      []byte
		f         *File
	}{
		{"sealpost", ".wasm", wasm, &assets.Wasm},
		{"wasm_exec", ".js", wasmExec, &assets.WasmExec},
		{"app", ".js", app, &assets.App},
		{"style", ".css", style, &assets.Style},
	} {
		sum := sha256.Sum256(a.data)
		name := a.base + "." + hex.EncodeToString(sum[:])[:16] + a.ext
		if *a.f, err = write(dir, name, a.data); err != nil {
			return nil, err
		}
		files = append(files, *a.f)
	}
	var b bytes.Buffer
	if err := page.Execute(&b, assets); err != nil {
		return nil, err
	}
	index, err := write(dir, "index.html", b.Bytes())
	if err != nil {
		return nil, err
	}
	return append([]File{index}, files...), nil
}

// noInlineFlags turn the compiler's inlining off outside the code that
// runs hot: the cryptography and the arithmetic under it (math/bits, whose
// Add64 and Mul64 a field multiplication calls in its inner loop). In
// WebAssembly the inlined copies of small functions are much of what makes
// the module big: measured at issue 21, 4.70 MiB gzipped with inlining
// everywhere, 4.16 MiB with these flags (4.10 MiB with inlining only in
// crypto/..., but then a send spent a tenth of its time in math/bits.Add64
// calls).
var noInlineFlags = []string{
	"-gcflags=all=-l",
	"-gcflags=crypto/...=", "-gcflags=math/...=", "-gcflags=internal/byteorder=", "-gcflags=encoding/binary=",
	"-gcflags=filippo.io/...=", "-gcflags=golang.org/x/crypto/...=", "-gcflags=github.com/sealpost/sealpost/crypto/...=",
}

// buildWasm compiles the module into dir and returns it; inline keeps the
// compiler's inlining everywhere.
func buildWasm(dir string, inline bool) ([]byte, error) {
	out := filepath.Join(dir, "sealpost.wasm")
	args := []string{"build", "-trimpath", "-ldflags=-s -w"}
	if !inline {
		args = append(args, noInlineFlags...)
	}
	cmd := exec.Command("go", append(args, "-o", out, wasmPackage)...)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %v\n%s", wasmPackage, err, msg)
	}
	return os.ReadFile(out)
}

// readWasmExec reads the JavaScript support file of the Go toolchain
// that builds the module: the two must be of the same Go version.
func readWasmExec() ([]byte, error) {
	root, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return nil, fmt.Errorf("wasm_exec.js: %w", err)
	}
	return b, nil
}

// removeBuilt removes the files an earlier build wrote in dir.
func removeBuilt(dir string) error {
	es, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Type().IsRegular() && builtName.MatchString(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// write writes data and its gzip into dir under name and name.gz.
func write(dir, name string, data []byte) (File, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return File{}, err
	}
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return File{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		return File{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".gz"), gz.Bytes(), 0o644); err != nil {
		return File{}, err
	}
	sum := sha512.Sum384(data)
	return File{
		Name:      name,
		Integrity: "sha384-" + base64.StdEncoding.EncodeToString(sum[:]),
		Size:      len(data),
		Gzip:      gz.Len(),
	}, nil
}
