package link

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// URI is what N shows and E scans (spec/linking.md §2):
//
//	sealpost://link?v=1&r=<relay>&a=<link id>&h=<offer hash>&x=<expiry>
type URI struct {
	// Relay is the relay's WebSocket URL (wss://), where N's link
	// mailbox is.
	Relay string
	// LinkID names N's link mailbox (spec/relay.md §17).
	LinkID [IDSize]byte
	// OfferHash is SHA-256 of the offer N stored in the mailbox.
	OfferHash [HashSize]byte
	// Expires is the offer's expiry, whole seconds.
	Expires time.Time
}

// uriPrefix starts every version 1 URI (spec/linking.md §2.1).
const uriPrefix = "sealpost://link?"

var b64 = base64.RawURLEncoding.Strict()

// ParseURI parses a URI. It accepts exactly the canonical form of
// spec/linking.md §2.1: ParseURI(s) succeeds only if u.String() == s. It
// returns ErrUnsupportedVersion for a URI of another version and
// ErrMalformedURI for anything else it refuses. It does not check the
// expiry against a clock: Initiate does.
func ParseURI(s string) (*URI, error) {
	if len(s) > MaxURILen {
		return nil, malformedURI("longer than %d bytes", MaxURILen)
	}
	rest, ok := strings.CutPrefix(s, uriPrefix)
	if !ok {
		return nil, malformedURI("not a sealpost://link? URI")
	}
	params := strings.Split(rest, "&")
	if v, ok := strings.CutPrefix(params[0], "v="); !ok {
		return nil, malformedURI("the first parameter is not v")
	} else if v != "1" {
		if isDecimal(v) {
			return nil, fmt.Errorf("%w: URI version %.8q", ErrUnsupportedVersion, v)
		}
		return nil, malformedURI("version is not a decimal number")
	}
	names := [...]string{"v", "r", "a", "h", "x"}
	if len(params) != len(names) {
		return nil, malformedURI("%d parameters, want %d", len(params), len(names))
	}
	vals := make([]string, len(names))
	for i, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k != names[i] {
			return nil, malformedURI("parameter %d is not %s", i+1, names[i])
		}
		vals[i] = v
	}
	u := &URI{}
	relay, err := unescapeRelay(vals[1])
	if err != nil {
		return nil, err
	}
	u.Relay = relay
	if err := decodeID(u.LinkID[:], vals[2]); err != nil {
		return nil, malformedURI("a: %v", err)
	}
	if err := decodeID(u.OfferHash[:], vals[3]); err != nil {
		return nil, malformedURI("h: %v", err)
	}
	if !isDecimal(vals[4]) || vals[4][0] == '0' {
		return nil, malformedURI("x is not a decimal number without leading zeros")
	}
	x, err := strconv.ParseUint(vals[4], 10, 64)
	if err != nil || x > maxTime {
		return nil, malformedURI("x out of range")
	}
	u.Expires = time.Unix(int64(x), 0).UTC()
	return u, nil
}

// String returns the canonical URI (spec/linking.md §2.1).
func (u *URI) String() string {
	var b strings.Builder
	b.WriteString(uriPrefix)
	b.WriteString("v=1&r=")
	b.WriteString(escapeRelay(u.Relay))
	b.WriteString("&a=")
	b.WriteString(b64.EncodeToString(u.LinkID[:]))
	b.WriteString("&h=")
	b.WriteString(b64.EncodeToString(u.OfferHash[:]))
	b.WriteString("&x=")
	b.WriteString(strconv.FormatInt(u.Expires.Unix(), 10))
	return b.String()
}

// check reports whether u can be written as a URI that ParseURI accepts.
func (u *URI) check() error {
	if err := CheckRelay(u.Relay); err != nil {
		return err
	}
	if x := u.Expires.Unix(); x < 1 || x > maxTime {
		return malformedURI("expiry out of range")
	}
	if len(u.String()) > MaxURILen {
		return malformedURI("longer than %d bytes", MaxURILen)
	}
	return nil
}

func malformedURI(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedURI, fmt.Sprintf(format, args...))
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func decodeID(dst []byte, s string) error {
	if len(s) != b64.EncodedLen(len(dst)) {
		return fmt.Errorf("%d characters, want %d", len(s), b64.EncodedLen(len(dst)))
	}
	n, err := b64.Decode(dst, []byte(s))
	if err != nil || n != len(dst) {
		return fmt.Errorf("not canonical unpadded base64url")
	}
	return nil
}

// relayChar reports whether c may appear in a relay URL (spec/linking.md
// §2.2): unreserved characters and ":" "/" "[" "]".
func relayChar(c byte) bool {
	return unreserved(c) || c == ':' || c == '/' || c == '[' || c == ']'
}

// unreserved is RFC 3986 §2.3.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// CheckRelay reports whether relay is a relay URL a link may name
// (spec/linking.md §2.2): 1..MaxRelayLen bytes of letters, digits,
// "-._~:/[]", starting "wss://", with a host, an optional numeric port
// and an optional path; no user info, query or fragment.
func CheckRelay(relay string) error {
	if len(relay) == 0 || len(relay) > MaxRelayLen {
		return malformedURI("relay URL of %d bytes", len(relay))
	}
	for i := 0; i < len(relay); i++ {
		if !relayChar(relay[i]) {
			return malformedURI("relay URL byte %d not allowed", i)
		}
	}
	if !strings.HasPrefix(relay, "wss://") {
		return malformedURI("relay URL is not wss://")
	}
	p, err := url.Parse(relay)
	if err != nil || p.Scheme != "wss" || p.Host == "" || p.Hostname() == "" || p.User != nil || p.Opaque != "" {
		return malformedURI("relay URL has no host")
	}
	if port := p.Port(); port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || port[0] == '0' {
			return malformedURI("relay URL port")
		}
	} else if strings.HasSuffix(p.Host, ":") {
		return malformedURI("relay URL port")
	}
	return nil
}

const upperHex = "0123456789ABCDEF"

// escapeRelay percent-encodes every byte of relay that is not unreserved,
// with upper-case hex (spec/linking.md §2.2).
func escapeRelay(relay string) string {
	var b strings.Builder
	for i := 0; i < len(relay); i++ {
		c := relay[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

// unescapeRelay is the inverse of escapeRelay; it refuses any other
// encoding of the same URL and a URL that CheckRelay refuses.
func unescapeRelay(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		if c != '%' || i+2 >= len(s) {
			return "", malformedURI("r: byte %d not allowed", i)
		}
		hi, lo := strings.IndexByte(upperHex, s[i+1]), strings.IndexByte(upperHex, s[i+2])
		if hi < 0 || lo < 0 {
			return "", malformedURI("r: escape at byte %d is not upper-case hex", i)
		}
		d := byte(hi<<4 | lo)
		if unreserved(d) {
			return "", malformedURI("r: unreserved character escaped at byte %d", i)
		}
		b.WriteByte(d)
		i += 2
	}
	relay := b.String()
	if err := CheckRelay(relay); err != nil {
		return "", err
	}
	return relay, nil
}
