// Package layout checks the repository's import graph: arrows point down,
// cmd → client → protocol clients → protocols → crypto, and the services
// (keyserver, relay, blobs) sit beside client, never under it. README.md
// ("Layout") draws the same picture.
package layout

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sealpost/sealpost"

// rank orders the layers: a package may import only packages of a lower
// rank, or of its own rank inside its own tree (keyserver may import
// keyserver/store; crypto/keys may import crypto/internal/prim).
type rank int

const (
	rankHelper   rank = iota // internal/...: no service, client or command
	rankCrypto               // crypto/...
	rankProtocol             // wire formats and the clients of them
	rankService              // keyserver, relay and their stores
	rankClient               // client and client/...
	rankCommand              // cmd/..., fuzz, spec/vectorgen
)

var rankNames = map[rank]string{
	rankHelper: "helper", rankCrypto: "crypto", rankProtocol: "protocol",
	rankService: "service", rankClient: "client", rankCommand: "command",
}

// protocols are the packages that define or speak a wire format and hold
// no server: both a service and the client library import them.
var protocols = map[string]bool{
	"keyserver/api":          true,
	"keyserver/kt":           true,
	"keyserver/kt/kttest":    true,
	"keyserver/kt/vmap":      true,
	"keyserver/kt/directory": true,
	"keyserver/revocation":   true,
	"relay/wire":             true,
	"relay/relayclient":      true,
	"blobs/api":              true,
	"blobs/blobclient":       true,
	"tlsconfig":              true,
	// Push (spec/push.md): the Web Push protocol and its outbound HTTP
	// guard, and the client of the push gateway, are what the relay
	// speaks; the gateway itself is a service.
	"push/egress":              true,
	"push/webpush":             true,
	"push/webpush/webpushtest": true,
	"push/gateway/gwclient":    true,
}

func rankOf(rel string) rank {
	switch {
	case strings.HasPrefix(rel, "internal/"):
		return rankHelper
	case rel == "web":
		// The web page's files (go:embed, no code): what
		// cmd/sealpost-webbuild builds from.
		return rankHelper
	case rel == "crypto" || strings.HasPrefix(rel, "crypto/"):
		return rankCrypto
	case protocols[rel]:
		return rankProtocol
	case rel == "keyserver" || rel == "relay" || rel == "blobs" ||
		strings.HasPrefix(rel, "keyserver/") || strings.HasPrefix(rel, "relay/") || strings.HasPrefix(rel, "blobs/") ||
		strings.HasPrefix(rel, "push/"):
		return rankService
	case rel == "client" || strings.HasPrefix(rel, "client/"):
		return rankClient
	default:
		return rankCommand
	}
}

// tree is the top of rel's own subtree for same-rank imports: services
// may import within keyserver/ or relay/ only, and so on.
func tree(rel string) string {
	top, _, _ := strings.Cut(rel, "/")
	return top
}

type pkg struct {
	ImportPath string
	Imports    []string
}

// packages lists the module's packages with their non-test imports.
func packages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

// TestArrowsPointDown fails for every import that runs up or sideways:
// a helper under internal/ importing a service, the client library
// importing a server, a protocol package importing a service, crypto
// importing anything above it.
func TestArrowsPointDown(t *testing.T) {
	ps := packages(t)
	if len(ps) < 30 {
		t.Fatalf("go list found %d packages; the pattern is wrong", len(ps))
	}
	for _, p := range ps {
		from, _ := rel(p.ImportPath)
		for _, imp := range p.Imports {
			to, ok := rel(imp)
			if !ok {
				continue
			}
			if err := allowed(from, to); err != "" {
				t.Errorf("%s imports %s: %s", from, to, err)
			}
		}
	}
}

// allowed reports why from may not import to, or "".
func allowed(from, to string) string {
	rf, rt := rankOf(from), rankOf(to)
	switch {
	case rf == rankClient && rt == rankService:
		return "the client library imports a server (use its protocol package)"
	case rf == rankCommand && rt == rankCommand:
		return "a command imports another command"
	case rt == rankHelper:
		// internal/ helpers are importable from anywhere in the module
		// (Go already keeps them from outside users).
		return ""
	case rt < rf:
		return ""
	case rt == rf && tree(from) == tree(to):
		// keyserver → keyserver/store, relay/relayclient → relay/wire
		return ""
	}
	return "a " + rankNames[rf] + " package imports a " + rankNames[rt] + " package (arrows must point down)"
}

// TestAllowedRefuses keeps the rule honest: the imports the layout
// forbids are refused.
func TestAllowedRefuses(t *testing.T) {
	for _, c := range [][2]string{
		{"internal/relayclient", "relay"},
		{"internal/vectorgen", "keyserver"},
		{"client", "keyserver"},
		{"client/internal/ksclient", "keyserver/store"},
		{"relay/wire", "relay"},
		{"keyserver/api", "keyserver"},
		{"crypto/keys", "relay/wire"},
		{"relay", "client"},
		{"keyserver", "relay"},
		{"cmd/sealpost", "cmd/sealpostd"},
	} {
		if allowed(c[0], c[1]) == "" {
			t.Errorf("%s → %s allowed; the layout forbids it", c[0], c[1])
		}
	}
	for _, c := range [][2]string{
		{"cmd/sealpost", "client"},
		{"client", "relay/relayclient"},
		{"client", "keyserver/api"},
		{"keyserver", "keyserver/store"},
		{"relay/relayclient", "relay/wire"},
		{"crypto/keys", "crypto/internal/prim"},
	} {
		if e := allowed(c[0], c[1]); e != "" {
			t.Errorf("%s → %s refused (%s); the layout allows it", c[0], c[1], e)
		}
	}
}
