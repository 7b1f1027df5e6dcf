// Package revocation is the key server's revocation feed
// (spec/keyserver.md §5.9) as relays read it: the hash that names a revoked
// device, the feed's JSON body, and Client, which reads the feed over
// HTTPS. It depends on nothing else of the key server, so a relay can
// import it without the directory.
package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Label is the domain-separation string of DeviceHash.
const Label = "sealpost/v1/revoked-device"

// MaxPage is the most entries one feed page holds.
const MaxPage = 1000

// Path is the feed's endpoint.
const Path = "/v1/revocations"

// maxBody bounds a feed page read by Client: MaxPage entries of well under
// 200 bytes each.
const maxBody = 1 << 20

// DeviceHash names a revoked device in the feed (spec/keyserver.md §5.9):
//
//	SHA-256("sealpost/v1/revoked-device" || 0x00 || u8 len(handle) || handle || u32 device)
//
// The bytes after the 0x00 are the device address of spec/relay.md §4, so
// a relay hashes the address of a connection as it stands.
func DeviceHash(handle string, device uint32) [32]byte {
	b := make([]byte, 0, len(Label)+1+1+len(handle)+4)
	b = append(b, Label...)
	b = append(b, 0, byte(len(handle)))
	b = append(b, handle...)
	b = binary.BigEndian.AppendUint32(b, device)
	return sha256.Sum256(b)
}

// Entry is one revoked device.
type Entry struct {
	// Index is the index of the log leaf that recorded the revocation.
	Index int64
	// Device is DeviceHash of the revoked device.
	Device [32]byte
	// Time is when the key server recorded the revocation.
	Time time.Time
}

// Page is the JSON body of GET /v1/revocations (spec/keyserver.md §5.9).
type Page struct {
	Revocations []PageEntry `json:"revocations"`
	// Next is the cursor of the following page: the last entry's index +
	// 1, or the request's from when the page is empty.
	Next int64 `json:"next"`
}

// PageEntry is one entry of a Page; device is base64url without padding.
type PageEntry struct {
	Index     int64  `json:"index"`
	Device    string `json:"device"`
	RevokedAt int64  `json:"revoked_at"`
}

// NewPage builds the body of a page of entries; from is the cursor asked.
func NewPage(entries []Entry, from int64) Page {
	p := Page{Revocations: make([]PageEntry, 0, len(entries)), Next: from}
	for _, e := range entries {
		p.Revocations = append(p.Revocations, PageEntry{
			Index: e.Index, Device: base64.RawURLEncoding.EncodeToString(e.Device[:]), RevokedAt: e.Time.Unix(),
		})
		p.Next = e.Index + 1
	}
	return p
}

// ErrMalformed reports a feed page that does not follow spec/keyserver.md
// §5.9.
var ErrMalformed = errors.New("revocation: malformed feed page")

// Entries checks p, an answer to a request from cursor from, and returns
// its entries.
func (p *Page) Entries(from int64) ([]Entry, error) {
	out := make([]Entry, 0, len(p.Revocations))
	last := from - 1
	for _, pe := range p.Revocations {
		d, err := base64.RawURLEncoding.Strict().DecodeString(pe.Device)
		if err != nil || len(d) != sha256.Size {
			return nil, fmt.Errorf("%w: device hash", ErrMalformed)
		}
		if pe.Index <= last {
			return nil, fmt.Errorf("%w: index %d not above %d", ErrMalformed, pe.Index, last)
		}
		last = pe.Index
		e := Entry{Index: pe.Index, Time: time.Unix(pe.RevokedAt, 0).UTC()}
		copy(e.Device[:], d)
		out = append(out, e)
	}
	if len(p.Revocations) > MaxPage || p.Next != last+1 {
		return nil, fmt.Errorf("%w: next %d after index %d", ErrMalformed, p.Next, last)
	}
	return out, nil
}

// Client reads the feed of the key server at a base URL over HTTPS. It
// implements the relay's RevocationSource.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a Client for the key server at baseURL (https://host[:port],
// no path), using hc, whose transport carries the TLS trust (a pinned
// fingerprint or CA); nil hc means http.DefaultClient.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("revocation: key server URL %q: want https://host[:port]", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), http: hc}, nil
}

// Revocations reads one page from cursor from: its entries and the cursor
// of the next page.
func (c *Client) Revocations(ctx context.Context, from int64) ([]Entry, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+Path+"?from="+strconv.FormatInt(from, 10), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("revocation: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("revocation: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("revocation: reading the feed: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("revocation: feed answered %s", resp.Status)
	}
	if len(body) > maxBody {
		return nil, 0, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxBody)
	}
	var p Page
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	es, err := p.Entries(from)
	if err != nil {
		return nil, 0, err
	}
	return es, p.Next, nil
}
