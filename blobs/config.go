package blobs

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/crypto/stream"
	"github.com/sealpost/sealpost/crypto/token"
)

// Defaults of the limits (spec/attachments.md §4.7).
const (
	// DefaultMaxBlobSize is size(C) of a 4 GiB file (spec/attachments.md
	// §2.4): 2^32 bytes of padded plaintext in 65536 chunks of 16-byte tags.
	DefaultMaxBlobSize    = 4<<30 + 65536*stream.TagSize
	DefaultAccountQuota   = 10 << 30
	DefaultMaxOpenUploads = 16
	DefaultPartSize       = 8 << 20
	DefaultBlobTTL        = 30 * 24 * time.Hour
	DefaultUploadTTL      = 24 * time.Hour
	DefaultPartTimeout    = 10 * time.Minute
	// DefaultMinRate is the slowest average a part's body may arrive at,
	// in bytes per second.
	DefaultMinRate = 64 << 10
	// DefaultSweepInterval is how often Run sweeps expired blobs and
	// uploads.
	DefaultSweepInterval = time.Minute
)

// Bounds of PartSize (spec/attachments.md §4.7).
const (
	MinPartSize = store.MinPartSize
	MaxPartSize = 64 << 20
)

// Config configures a Server. Name and TokenKeys are required; zero limits
// take their defaults.
type Config struct {
	// Name is the server name: tokens are for audience "blobs:<Name>"
	// (spec/attachments.md §4.2).
	Name string
	// TokenKeys are the key server's token keys the service accepts.
	TokenKeys []ed25519.PublicKey

	// Limits (spec/attachments.md §4.7).
	MaxBlobSize    int64
	AccountQuota   int64
	MaxOpenUploads int
	PartSize       int64
	BlobTTL        time.Duration
	UploadTTL      time.Duration
	PartTimeout    time.Duration
	// MinRate is the slowest average, in bytes per second, at which a
	// part's body may arrive (spec/attachments.md §4.4).
	MinRate int64
	// SweepInterval is how often Run deletes what has expired.
	SweepInterval time.Duration

	// NodeID names this server instance in the leases it takes on
	// uploads (spec/attachments.md §5): at start it drops the leases a
	// previous instance with the same id left (it stopped mid-part), so
	// that a client need not wait for them to run out. Several nodes on
	// one database need distinct ids; sealpostd keeps one in its data
	// directory. Zero means a random one (nothing is dropped at start).
	NodeID [8]byte

	// Now is the clock of tokens and expiry; nil means time.Now.
	Now func() time.Time
}

// withDefaults returns c with its zero limits set to the defaults.
func (c Config) withDefaults() Config {
	set := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	setD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.MaxBlobSize, DefaultMaxBlobSize)
	set(&c.AccountQuota, DefaultAccountQuota)
	set(&c.PartSize, DefaultPartSize)
	set(&c.MinRate, DefaultMinRate)
	if c.MaxOpenUploads == 0 {
		c.MaxOpenUploads = DefaultMaxOpenUploads
	}
	setD(&c.BlobTTL, DefaultBlobTTL)
	setD(&c.UploadTTL, DefaultUploadTTL)
	setD(&c.PartTimeout, DefaultPartTimeout)
	setD(&c.SweepInterval, DefaultSweepInterval)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every problem with c, zero limits taking their defaults
// (errors.Join).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("blobs: "+format, args...))
	}
	if err := token.CheckAudience(api.AudiencePrefix + c.Name); err != nil || c.Name == "" {
		bad("Name %q: not a server name for audience %q", c.Name, api.AudiencePrefix+c.Name)
	}
	if len(c.TokenKeys) == 0 {
		bad("TokenKeys is required")
	}
	if len(c.TokenKeys) > 0 {
		if _, err := token.NewVerifier(api.AudiencePrefix+c.Name, token.ClockSkew, c.TokenKeys...); err != nil {
			bad("Name or TokenKeys: %v", err)
		}
	}
	if c.PartSize < MinPartSize || c.PartSize > MaxPartSize {
		bad("PartSize %d: want %d to %d bytes", c.PartSize, MinPartSize, MaxPartSize)
	}
	if c.MaxBlobSize < 1 {
		bad("MaxBlobSize %d: want 1 or more bytes", c.MaxBlobSize)
	} else if c.PartSize >= MinPartSize && (c.MaxBlobSize-1)/c.PartSize+1 > store.MaxParts {
		bad("MaxBlobSize %d: more than %d parts of PartSize %d", c.MaxBlobSize, store.MaxParts, c.PartSize)
	}
	if c.AccountQuota < 1 {
		bad("AccountQuota %d: want 1 or more bytes", c.AccountQuota)
	}
	if c.MaxOpenUploads < 1 || c.MaxOpenUploads > 1_000_000 {
		bad("MaxOpenUploads %d: want 1 to 1000000", c.MaxOpenUploads)
	}
	dur := func(name string, d, lo, hi time.Duration) {
		if d < lo || d > hi {
			bad("%s %v: want %v to %v", name, d, lo, hi)
		}
	}
	dur("BlobTTL", c.BlobTTL, time.Minute, 10*365*24*time.Hour)
	dur("UploadTTL", c.UploadTTL, time.Minute, 365*24*time.Hour)
	dur("PartTimeout", c.PartTimeout, 100*time.Millisecond, 24*time.Hour)
	dur("SweepInterval", c.SweepInterval, 10*time.Millisecond, 24*time.Hour)
	if c.UploadTTL < c.PartTimeout {
		bad("UploadTTL %v is shorter than PartTimeout %v", c.UploadTTL, c.PartTimeout)
	}
	if c.MinRate < 1 || c.MinRate > 1<<40 {
		bad("MinRate %d: want 1 to 2^40 bytes per second", c.MinRate)
	}
	return errors.Join(errs...)
}
