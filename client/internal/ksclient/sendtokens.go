package ksclient

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/keyserver/api"
)

// SendTokenKeys is the key server's send-token keys document, checked
// (spec/keyserver.md §5.10): the issuer name of the tokens' challenge and
// the public keys of up to three consecutive epochs, in increasing epoch
// order.
type SendTokenKeys struct {
	Issuer string
	Keys   []sendtoken.EpochKey
}

// Key returns the key of epoch, or nil.
func (k *SendTokenKeys) Key(epoch uint64) *sendtoken.PublicKey {
	for _, ek := range k.Keys {
		if ek.Epoch == epoch {
			return ek.Key
		}
	}
	return nil
}

// SendTokenKeys fetches the send-token keys document (spec/keyserver.md
// §5.10). It refuses a document whose issuer is not the key server's name
// (Expect's, else the discovery document's), whose token type is not
// 0x0002, whose epochs are not increasing and consecutive (at most three),
// or whose key does not parse (spec/anonymous.md §3.1) or has another key
// id than it says.
func (c *Client) SendTokenKeys(ctx context.Context) (*SendTokenKeys, error) {
	name, err := c.Name(ctx)
	if err != nil {
		return nil, err
	}
	var doc api.SendTokenKeys
	if err := c.do(ctx, http.MethodGet, api.SendTokenKeysPath, nil, "", nil, &doc); err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("ksclient: GET %s: malformed answer: %s", api.SendTokenKeysPath, fmt.Sprintf(format, args...))
	}
	if doc.Issuer != name {
		return nil, bad("issuer %q, not the key server's name %q", printable(doc.Issuer), name)
	}
	if doc.TokenType != sendtoken.TokenType {
		return nil, bad("token type %d", doc.TokenType)
	}
	if len(doc.Keys) == 0 || len(doc.Keys) > 3 {
		return nil, bad("%d keys, want 1 to 3", len(doc.Keys))
	}
	out := &SendTokenKeys{Issuer: doc.Issuer}
	for i, k := range doc.Keys {
		if i > 0 && k.Epoch != doc.Keys[i-1].Epoch+1 {
			return nil, bad("epoch %d after %d", k.Epoch, doc.Keys[i-1].Epoch)
		}
		pub, err := sendtoken.ParsePublicKey(k.PublicKey)
		if err != nil {
			return nil, bad("key of epoch %d: %v", k.Epoch, err)
		}
		id := pub.ID()
		if k.KeyID != hex.EncodeToString(id[:]) {
			return nil, bad("key of epoch %d: key id %q is not its SHA-256", k.Epoch, printable(k.KeyID))
		}
		out.Keys = append(out.Keys, sendtoken.EpochKey{Epoch: k.Epoch, Key: pub})
	}
	return out, nil
}

// IssueSendTokens asks the key server to sign a batch of token requests
// (spec/keyserver.md §5.10, spec/anonymous.md §5.3) with a key server
// token of an active device, and returns the responses, in the order of
// reqs, and the epoch of the key that signed them. Refusals are
// *APIError: malformed, unknown_key (the current key is not the one reqs
// were made for: fetch SendTokenKeys again), send_token_limit (429; its
// RetryAfter is the time to the next epoch), and the token and device
// codes of other endpoints. It does not retry: a refused request counted
// nothing, so the caller may. Finalize the responses with the batch's
// sendtoken.Pending, which checks every signature.
func (c *Client) IssueSendTokens(ctx context.Context, token string, reqs []sendtoken.Request) ([]sendtoken.Response, uint64, error) {
	const path = api.SendTokensPath
	body, err := sendtoken.MarshalBatchRequest(reqs)
	if err != nil {
		return nil, 0, fmt.Errorf("ksclient: POST %s: %w", path, err)
	}
	u := *c.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("ksclient: POST %s: %w", path, err)
	}
	req.Header.Set("Content-Type", api.OctetStream)
	req.Header.Set("Accept", api.OctetStream)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("ksclient: POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	// The answer is exactly 2 + 256·n bytes; read one more to tell.
	want := 2 + sendtoken.ResponseSize*len(reqs)
	limit := max(want, maxMessage*8)
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, 0, fmt.Errorf("ksclient: POST %s: reading the answer: %w", path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, 0, apiError(resp, data)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != api.OctetStream {
		return nil, 0, fmt.Errorf("ksclient: POST %s: malformed answer: status %d, Content-Type %q", path, resp.StatusCode, printable(resp.Header.Get("Content-Type")))
	}
	h := resp.Header.Get(api.HeaderSendTokenEpoch)
	epoch, err := strconv.ParseUint(h, 10, 64)
	if err != nil || strconv.FormatUint(epoch, 10) != h {
		return nil, 0, fmt.Errorf("ksclient: POST %s: malformed answer: %s %q", path, api.HeaderSendTokenEpoch, printable(h))
	}
	resps, err := sendtoken.ParseBatchResponse(data, len(reqs))
	if err != nil {
		return nil, 0, fmt.Errorf("ksclient: POST %s: malformed answer: %w", path, err)
	}
	return resps, epoch, nil
}
