// Command sealpost-webbuild builds the web client into a directory that
// sealpostd --web serves:
//
//	go run ./cmd/sealpost-webbuild -o DIR
//
// It compiles cmd/sealpost-web to WebAssembly (GOOS=js GOARCH=wasm,
// -trimpath, -ldflags=-s -w, with the compiler's default inlining: the
// cryptography runs at its speed; measured at issue 21, turning inlining
// off outside crypto and math would make the brotli module 2.84 MiB
// instead of 3.20), copies the Go toolchain's wasm_exec.js (read
// from $(go env GOROOT)/lib/wasm at build time, never kept in the
// repository), and writes the page of package web: every file under a
// name that carries the first 16 hex digits of its SHA-256
// (app.0123456789abcdef.js), and index.html naming
// them with their Subresource Integrity hashes (sha384), the WebAssembly
// module's in a meta element that app.js fetches it with. Beside each
// file it writes a .gz and a .br (brotli), which sealpostd serves to the
// browsers that accept them. It prints each file's size, raw, gzipped and
// in brotli, and fails if the module a browser downloads — the brotli one:
// every current browser takes br over HTTPS — is over 4 MiB (-max-wasm).
// It runs inside the module's source tree (the go command builds the
// module there).
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

	"github.com/andybalholm/brotli"

	"github.com/sealpost/sealpost/web"
)

// wasmPackage is the WebAssembly module's package.
const wasmPackage = "github.com/sealpost/sealpost/cmd/sealpost-web"

// MaxWasm is the most the brotli-compressed module, what a browser
// downloads on a first visit, may weigh, unless -max-wasm says otherwise
// (issue 21).
const MaxWasm = 4 << 20

// Brotli settings of the .br files: the best compression, and the
// largest window of standard brotli (2^24 bytes; browsers do not decode
// the large-window variant). Quality 11 takes a few minutes for the
// module; it is done once per build.
const (
	brotliQuality = 11
	brotliWindow  = 24
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "sealpost-webbuild: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sealpost-webbuild", flag.ContinueOnError)
	out := fs.String("o", "", "output `directory` (created if missing; files an earlier build wrote there are replaced)")
	maxWasm := fs.Int("max-wasm", MaxWasm, "fail if the brotli-compressed WebAssembly module (what a browser downloads) is over this many `bytes`; negative: no limit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: sealpost-webbuild -o DIR")
	}
	files, err := Build(*out)
	fmt.Fprintf(stdout, "%-40s %10s %10s %10s\n", "file", "bytes", "gzip", "brotli")
	for _, f := range files {
		fmt.Fprintf(stdout, "%-40s %10d %10d %10d\n", f.Name, f.Size, f.Gzip, f.Brotli)
	}
	if err != nil {
		return err
	}
	return CheckSize(files, *maxWasm)
}

// CheckSize fails if the brotli-compressed WebAssembly module of files is
// over max bytes (max < 0: no limit).
func CheckSize(files []File, max int) error {
	for _, f := range files {
		if strings.HasSuffix(f.Name, ".wasm") && max >= 0 && f.Brotli > max {
			return fmt.Errorf("the WebAssembly module is %d bytes in brotli (%.2f MiB), over the %d allowed", f.Brotli, float64(f.Brotli)/(1<<20), max)
		}
	}
	return nil
}

// File is one file Build wrote, with its .gz and .br.
type File struct {
	Name               string // the name in the directory, hashed but for index.html
	Integrity          string // sha384-<base64>, for index.html's integrity attributes
	Size, Gzip, Brotli int    // bytes, raw, gzipped and in brotli
}

// builtName matches the names a build writes, so that a later build
// removes them.
var builtName = regexp.MustCompile(`^(?:(?:sealpost|wasm_exec|app|style)\.[0-9a-f]{16}\.(?:wasm|js|css)|index\.html)(?:\.gz|\.br)?$`)

// Build builds the web client into dir and returns its files.
func Build(dir string) ([]File, error) {
	tmp, err := os.MkdirTemp("", "sealpost-webbuild")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	wasm, err := buildWasm(tmp)
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

// buildWasm compiles the module into dir and returns it.
func buildWasm(dir string) ([]byte, error) {
	out := filepath.Join(dir, "sealpost.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, wasmPackage)
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

// write writes data, its gzip and its brotli into dir under name,
// name.gz and name.br.
func write(dir, name string, data []byte) (File, error) {
	var br []byte
	brDone := make(chan struct{})
	go func() { // the slow one: alongside gzip
		defer close(brDone)
		br = compressBrotli(data)
	}()
	gz, err := compressGzip(data)
	<-brDone
	if err != nil {
		return File{}, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{name, data}, {name + ".gz", gz}, {name + ".br", br}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return File{}, err
		}
	}
	sum := sha512.Sum384(data)
	return File{
		Name:      name,
		Integrity: "sha384-" + base64.StdEncoding.EncodeToString(sum[:]),
		Size:      len(data),
		Gzip:      len(gz),
		Brotli:    len(br),
	}, nil
}

// compressGzip returns data gzipped at the best compression.
func compressGzip(data []byte) ([]byte, error) {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.Write(data) // a bytes.Buffer does not fail
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return b.Bytes(), nil
}

// compressBrotli returns data in brotli (brotliQuality, brotliWindow).
func compressBrotli(data []byte) []byte {
	var b bytes.Buffer
	bw := brotli.NewWriterOptions(&b, brotli.WriterOptions{Quality: brotliQuality, LGWin: brotliWindow})
	bw.Write(data) // a bytes.Buffer does not fail, nor then does Close
	bw.Close()
	return b.Bytes()
}
