package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Relay key limits (spec/push.md §5.3).
const (
	// MinRelayKeyLen and MaxRelayKeyLen bound a relay key in bytes.
	MinRelayKeyLen = 32
	MaxRelayKeyLen = 256
	maxRelayName   = 64
	maxRelayKeys   = 10000
	maxKeysFile    = 1 << 20
)

// RelayKeys are the relays a gateway serves: each a name and the SHA-256
// of its key (spec/push.md §5.3).
type RelayKeys struct {
	names  []string
	hashes [][sha256.Size]byte
}

// LoadRelayKeys reads a relay keys file (spec/push.md §5.3).
func LoadRelayKeys(path string) (*RelayKeys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: relay keys: %w", err)
	}
	defer f.Close()
	k, err := ParseRelayKeys(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseRelayKeys parses the lines of a relay keys file: "<name> <hex
// SHA-256 of the key>", blank lines and lines starting with '#' skipped
// (spec/push.md §5.3). It reports every bad line; no name or hash may
// appear twice, and the file must name at least one relay.
func ParseRelayKeys(r io.Reader) (*RelayKeys, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxKeysFile+1))
	if err != nil {
		return nil, fmt.Errorf("gateway: relay keys: %w", err)
	}
	if len(b) > maxKeysFile {
		return nil, fmt.Errorf("gateway: relay keys: file larger than %d bytes", maxKeysFile)
	}
	k := &RelayKeys{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			errs = append(errs, fmt.Errorf("line %d: want \"<name> <hex SHA-256 of the key>\"", n))
			continue
		}
		name, hx := fields[0], fields[1]
		var h [sha256.Size]byte
		if !relayNameOK(name) {
			errs = append(errs, fmt.Errorf("line %d: name: want 1 to %d bytes of a-z 0-9 . _ -", n, maxRelayName))
			continue
		}
		if len(hx) != 2*sha256.Size || strings.ToLower(hx) != hx {
			errs = append(errs, fmt.Errorf("line %d: want %d lower-case hex digits of SHA-256", n, 2*sha256.Size))
			continue
		}
		if _, err := hex.Decode(h[:], []byte(hx)); err != nil {
			errs = append(errs, fmt.Errorf("line %d: hash is not hex", n))
			continue
		}
		for i := range k.names {
			if k.names[i] == name {
				errs = append(errs, fmt.Errorf("line %d: name %q given twice", n, name))
			}
			if k.hashes[i] == h {
				errs = append(errs, fmt.Errorf("line %d: the key of %q given again", n, k.names[i]))
			}
		}
		k.names = append(k.names, name)
		k.hashes = append(k.hashes, h)
	}
	if len(k.names) > maxRelayKeys {
		errs = append(errs, fmt.Errorf("more than %d relays", maxRelayKeys))
	}
	if len(errs) == 0 && len(k.names) == 0 {
		errs = append(errs, errors.New("no relay listed"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("gateway: relay keys: %w", errors.Join(errs...))
	}
	return k, nil
}

// relayNameOK reports whether name is a relay name: 1 to 64 bytes of
// a-z 0-9 . _ - (spec/push.md §5.3).
func relayNameOK(name string) bool {
	if len(name) == 0 || len(name) > maxRelayName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// Len returns the number of relays listed.
func (k *RelayKeys) Len() int { return len(k.names) }

// lookup returns the name of the relay whose key is key. It hashes key
// and compares the hash with every entry in constant time, whichever
// matches (spec/push.md §5.3).
func (k *RelayKeys) lookup(key string) (string, bool) {
	if len(key) < MinRelayKeyLen || len(key) > MaxRelayKeyLen {
		return "", false
	}
	h := sha256.Sum256([]byte(key))
	found := -1
	for i := range k.hashes {
		if subtle.ConstantTimeCompare(h[:], k.hashes[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return k.names[found], true
}

// RelayKeyLine returns the relay keys file line for a relay named name
// holding key: what a vendor appends to the file after handing key to the
// relay's operator.
func RelayKeyLine(name, key string) (string, error) {
	if !relayNameOK(name) {
		return "", fmt.Errorf("gateway: relay name %q: want 1 to %d bytes of a-z 0-9 . _ -", name, maxRelayName)
	}
	if err := CheckRelayKey(key); err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(key))
	return name + " " + hex.EncodeToString(h[:]), nil
}

// CheckRelayKey reports whether key is a well-formed relay key: 32 to 256
// bytes of printable ASCII without spaces (spec/push.md §5.3).
func CheckRelayKey(key string) error {
	if len(key) < MinRelayKeyLen || len(key) > MaxRelayKeyLen {
		return fmt.Errorf("gateway: relay key: want %d to %d bytes", MinRelayKeyLen, MaxRelayKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return errors.New("gateway: relay key: want printable ASCII without spaces")
		}
	}
	return nil
}
