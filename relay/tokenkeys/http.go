package tokenkeys

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/keyserver/api"
)

// maxDocument bounds the keys document read: three keys of under 600
// bytes of JSON each.
const maxDocument = 16 << 10

// HTTPSource reads the key server's keys document, GET
// /v1/send-tokens/keys (spec/keyserver.md §5.10), over HTTPS.
type HTTPSource struct {
	url  string
	http *http.Client
}

// NewHTTPSource returns a Source for the key server at baseURL
// (https://host[:port], no path), read with hc, whose transport carries
// the TLS trust (a pinned fingerprint or CAs); nil hc means
// http.DefaultClient.
func NewHTTPSource(baseURL string, hc *http.Client) (*HTTPSource, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("tokenkeys: key server URL %q: want https://host[:port]", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &HTTPSource{url: strings.TrimSuffix(baseURL, "/") + api.SendTokenKeysPath, http: hc}, nil
}

// SendTokenPublicKeys fetches and checks the keys document.
func (s *HTTPSource) SendTokenPublicKeys(ctx context.Context) (string, []sendtoken.EpochKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return "", nil, fmt.Errorf("tokenkeys: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("tokenkeys: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return "", nil, fmt.Errorf("tokenkeys: reading the keys document: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("tokenkeys: GET %s answered %s", api.SendTokenKeysPath, resp.Status)
	}
	if len(body) > maxDocument {
		return "", nil, fmt.Errorf("%w: longer than %d bytes", ErrBadDocument, maxDocument)
	}
	return ParseDocument(body)
}

// ParseDocument checks a keys document (spec/keyserver.md §5.10) and
// returns its issuer and keys: token type 0x0002, 1 to 3 keys of
// consecutive increasing epochs, each an issuer public key of
// spec/anonymous.md §3.1 whose key id is the one given. Anything else is
// ErrBadDocument. The issuer is the caller's to check.
func ParseDocument(body []byte) (string, []sendtoken.EpochKey, error) {
	var doc api.SendTokenKeys
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrBadDocument, err)
	}
	if doc.TokenType != sendtoken.TokenType {
		return "", nil, fmt.Errorf("%w: token type %d", ErrBadDocument, doc.TokenType)
	}
	if len(doc.Keys) == 0 || len(doc.Keys) > 3 {
		return "", nil, fmt.Errorf("%w: %d keys, want 1 to 3", ErrBadDocument, len(doc.Keys))
	}
	out := make([]sendtoken.EpochKey, 0, len(doc.Keys))
	for i, k := range doc.Keys {
		if i > 0 && k.Epoch != doc.Keys[i-1].Epoch+1 {
			return "", nil, fmt.Errorf("%w: epoch %d after %d", ErrBadDocument, k.Epoch, doc.Keys[i-1].Epoch)
		}
		pub, err := sendtoken.ParsePublicKey(k.PublicKey)
		if err != nil {
			return "", nil, fmt.Errorf("%w: key of epoch %d: %v", ErrBadDocument, k.Epoch, err)
		}
		id := pub.ID()
		if k.KeyID != hex.EncodeToString(id[:]) {
			return "", nil, fmt.Errorf("%w: key of epoch %d: key id is not its SHA-256", ErrBadDocument, k.Epoch)
		}
		out = append(out, sendtoken.EpochKey{Epoch: k.Epoch, Key: pub})
	}
	return doc.Issuer, out, nil
}
