package specnames_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/internal/specnames"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

const root = "../.."

func table(t *testing.T) specnames.Table {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "spec/errors.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := specnames.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// goName is the Go spelling of name after prefix (spec/errors.md §1),
// compared without case so that initialisms (ID) may be upper case.
func goName(prefix, name string) string {
	return strings.ToLower(prefix + strings.ReplaceAll(name, "_", ""))
}

// decls returns the package-level constants (kind token.CONST, with their
// string values) or variables of the non-test files in dir.
func decls(t *testing.T, dir string, kind token.Token) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string]string{}
	files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != kind {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, id := range vs.Names {
					v := ""
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ = strconv.Unquote(lit.Value)
						}
					}
					out[id.Name] = v
				}
			}
		}
	}
	return out
}

// Every key server code constant is a name of spec/errors.md §3.9 and every
// name there is a constant, spelt Code + the name.
func TestKeyServerCodes(t *testing.T) {
	tab := table(t)
	names := tab.Names("keyserver")
	consts := map[string]bool{}
	for id, v := range decls(t, "keyserver/api", token.CONST) {
		if !strings.HasPrefix(id, "Code") {
			continue
		}
		consts[v] = true
		if !names[v] {
			t.Errorf("api.%s = %q is not in spec/errors.md §3.9", id, v)
		}
		if strings.ToLower(id) != goName("Code", v) {
			t.Errorf("api.%s holds %q: the constant should be Code + the name", id, v)
		}
	}
	for n := range names {
		if !consts[n] {
			t.Errorf("spec/errors.md §3.9 names %q, which no keyserver/api Code constant holds", n)
		}
	}
}

var wireCell = regexp.MustCompile("^([0-9]+) `([A-Z0-9_]+)`$")

// Every relay ErrorCode and Status but 0 is a row of spec/errors.md §3.10 or
// §3.11 with its number and identifier, and every row is one.
func TestRelayWireNames(t *testing.T) {
	tab := table(t)
	check := func(layer, prefix string, enum map[int32]string) {
		rows := map[int32]specnames.Row{}
		for _, r := range tab[layer] {
			m := wireCell.FindStringSubmatch(r.Columns["wire"])
			if m == nil {
				t.Errorf("%s.%s: wire cell %q is not `N IDENT`", layer, r.Name, r.Columns["wire"])
				continue
			}
			n, _ := strconv.Atoi(m[1])
			if m[2] != prefix+strings.ToUpper(r.Name) {
				t.Errorf("%s.%s: wire identifier %s, want %s", layer, r.Name, m[2], prefix+strings.ToUpper(r.Name))
			}
			if enum[int32(n)] != m[2] {
				t.Errorf("%s.%s: the table gives %d %s, relay.proto has %d %q", layer, r.Name, n, m[2], n, enum[int32(n)])
			}
			rows[int32(n)] = r
		}
		for v, id := range enum {
			if v == 0 {
				continue // *_UNSPECIFIED, never sent
			}
			if _, ok := rows[v]; !ok {
				t.Errorf("relay.proto %s = %d is not in spec/errors.md (%s)", id, v, layer)
			}
		}
	}
	check("relay", "ERROR_CODE_", wire.ErrorCode_name)
	check("relay_status", "STATUS_", wire.Status_name)

	// The relay store's statuses print as their names.
	names := tab.Names("relay_status")
	for _, s := range []store.Status{store.Stored, store.NoMailbox, store.QueueFull, store.TooLarge, store.AccessDenied} {
		if !names[s.String()] {
			t.Errorf("relay/store Status %d prints %q, not a name of spec/errors.md §3.11", s, s.String())
		}
	}
}

// The Go package of each layer's sentinels.
var layerPackages = map[string]string{
	"prim":       "crypto/internal/prim",
	"keys":       "crypto/keys",
	"pqxdh":      "crypto/pqxdh",
	"ratchet":    "crypto/ratchet",
	"seal":       "crypto/seal",
	"token":      "crypto/token",
	"vrf":        "crypto/vrf",
	"kt":         "keyserver/kt",
	"revocation": "keyserver/revocation",
	"wire":       "relay/wire",
	"client":     "client",
	"vmap":       "keyserver/kt/vmap",
	"directory":  "keyserver/kt/directory",
	"content":    "client/content",
	"group":      "client/group",
	"sendtoken":  "crypto/token/sendtoken",
	"senderkey":  "crypto/senderkey",
	"stream":     "crypto/stream",
	"webpush":    "push/webpush",
	"link":       "crypto/link",
}

var sentinel = regexp.MustCompile(`^Err[A-Z][A-Za-z0-9]*$`)

// Every exported sentinel of a protocol package is in its layer's Go column,
// spelt Err + the name; every Go entry exists.
func TestGoSentinels(t *testing.T) {
	tab := table(t)
	b, err := os.ReadFile(filepath.Join(root, "spec/errors.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if i := strings.Index(text, "\n## 4."); i >= 0 {
		text = text[i:]
	}
	if i := strings.Index(text, "\n## 5."); i >= 0 {
		text = text[:i]
	}
	for layer, rows := range tab {
		dir, ok := layerPackages[layer]
		if !ok {
			if layer != "keyserver" && layer != "relay" && layer != "relay_status" && layer != "blobs" {
				t.Errorf("spec/errors.md layer %q has no package in layerPackages", layer)
			}
			continue
		}
		pkg := filepath.Base(dir)
		vars := decls(t, dir, token.VAR)
		listed := map[string]bool{}
		for _, r := range rows {
			g := r.Columns["go"]
			if g == "—" && layer == "client" {
				continue // a client outcome with no sentinel of its own
			}
			id, found := strings.CutPrefix(g, pkg+".")
			if !found {
				t.Errorf("%s.%s: Go cell %q is not %s.Identifier", layer, r.Name, g, pkg)
				continue
			}
			if _, ok := vars[id]; !ok {
				t.Errorf("%s.%s: %s does not exist in %s", layer, r.Name, g, dir)
			}
			listed[id] = true
			if layer != "client" && strings.ToLower(id) != goName("Err", r.Name) {
				t.Errorf("%s.%s: Go sentinel %s, want Err + the name", layer, r.Name, g)
			}
		}
		if layer == "client" {
			// The client's other exported sentinels are its API (§4).
			for id := range vars {
				if sentinel.MatchString(id) && !listed[id] && !strings.Contains(text, "`"+id+"`") && !strings.Contains(text, "`client."+id+"`") {
					t.Errorf("client.%s is neither in spec/errors.md §3.13 nor §4", id)
				}
			}
			continue
		}
		for id := range vars {
			if sentinel.MatchString(id) && !listed[id] {
				t.Errorf("%s.%s is not in spec/errors.md (layer %s)", pkg, id, layer)
			}
		}
	}
}

// The layers whose names a vector file may use (spec/errors.md §1); a file
// not listed may use any layer's.
var fileLayers = map[string][]string{
	"keys.json":            {"keys", "prim"},
	"kt.json":              {"kt"},
	"pqxdh.json":           {"pqxdh", "prim"},
	"ratchet.json":         {"ratchet"},
	"seal.json":            {"seal"},
	"seal-v2.json":         {"seal"},
	"token.json":           {"token"},
	"token-challenge.json": {"token"},
	"relay-frames.json":    {"wire"},
	"vrf.json":             {"vrf"},
	"vmap.json":            {"vmap"},
	"directory.json":       {"directory", "kt"},
	"content.json":         {"content"},
	"sendtoken.json":       {"sendtoken"},
	"senderkey.json":       {"senderkey"},
	"groups.json":          {"group"},
	"attachments.json":     {"stream"},
	"push.json":            {"webpush"},
	"linking.json":         {"link"},
}

// resultFields are the members of a vector case that name an outcome.
var resultFields = map[string]bool{"error": true, "result": true, "sign_result": true, "verify_result": true}

// vectorName is what an outcome value looks like, whatever its spelling:
// hyphens are matched so that a name spelt with them is reported, not
// skipped.
var vectorName = regexp.MustCompile(`^[a-z_-]*$`)

// Every outcome a vector file names is a name of spec/errors.md §3 in one of
// the file's layers, spelt exactly as in the table (§1): the vectors and the
// table have one spelling.
func TestVectorErrorNames(t *testing.T) {
	tab := table(t)
	names := func(layers []string) map[string]bool {
		s := map[string]bool{"": true, "ok": true}
		for _, l := range layers {
			for n := range tab.Names(l) {
				s[n] = true
			}
		}
		return s
	}
	var all []string
	for l := range tab {
		all = append(all, l)
	}
	files, err := filepath.Glob(filepath.Join(root, "spec/vectors/*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files: %v", err)
	}
	seen := 0
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		layers, ok := fileLayers[filepath.Base(name)]
		if !ok {
			layers = all
		}
		allowed := names(layers)
		walk(doc, func(field, v string) {
			if !vectorName.MatchString(v) {
				return // not a name (e.g. hex)
			}
			seen++
			if !allowed[v] {
				t.Errorf("%s: %s %q is not a name of spec/errors.md (layers %v)", filepath.Base(name), field, v, layers)
			}
		})
	}
	if seen == 0 {
		t.Fatal("no outcome fields found in the vector files")
	}
}

// The tables have no vector column: a vector spells a name as the table
// does (spec/errors.md §1), so a second spelling has nowhere to live.
func TestNoVectorColumn(t *testing.T) {
	for layer, rows := range table(t) {
		for _, r := range rows {
			if _, ok := r.Columns["vector"]; ok {
				t.Fatalf("spec/errors.md layer %s has a vector column", layer)
			}
		}
	}
}

func walk(v any, f func(field, value string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && resultFields[k] {
				f(k, s)
				continue
			}
			walk(e, f)
		}
	case []any:
		for _, e := range x {
			walk(e, f)
		}
	}
}

// The table has a row for every layer spec/errors.md promises.
func TestLayers(t *testing.T) {
	tab := table(t)
	for _, l := range []string{"prim", "keys", "pqxdh", "ratchet", "seal", "token", "kt", "revocation", "keyserver", "relay", "relay_status", "wire", "client", "sendtoken", "senderkey"} {
		if len(tab[l]) == 0 {
			t.Errorf("no rows for layer %q", l)
		}
	}
	t.Logf("%d rows in %d layers", tab.Len(), len(tab))
}
