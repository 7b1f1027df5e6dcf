package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/blobs/blobclient"
	"github.com/sealpost/sealpost/client/group"
	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/internal/relaylink"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/relay/wire"
	"github.com/sealpost/sealpost/tlsconfig"
)

var (
	// ErrNoStore is returned by Open when Dir holds no store and Create is
	// false.
	ErrNoStore = errors.New("client: no store in this directory")
	// ErrNotRegistered is returned by operations that need an account
	// before Register (or Restore) has succeeded.
	ErrNotRegistered = errors.New("client: not registered")
	// ErrAlreadyRegistered is returned by Register on a store that already
	// holds an account.
	ErrAlreadyRegistered = errors.New("client: already registered")
	// ErrHandleTaken is returned by Register when another account holds
	// the handle.
	ErrHandleTaken = errors.New("client: handle is taken")
	// ErrWrongPassphrase is returned by Open and Restore for a passphrase
	// that does not unlock the store or the backup.
	ErrWrongPassphrase = errors.New("client: wrong passphrase")
	// ErrWrongIdentity is returned by Open for an age identity that does
	// not unlock the store.
	ErrWrongIdentity = errors.New("client: wrong age identity")
	// ErrCorrupt is returned when the local store (or a backup) is damaged.
	ErrCorrupt = errors.New("client: local state is corrupt")
	// ErrLocked is returned by Open when another process has the store open.
	ErrLocked = errors.New("client: store is in use by another process")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("client: closed")
	// ErrStoreFull is returned in the browser when the browser refuses to
	// store more for the site (its storage quota is used up): the
	// operation's changes to the store were not kept.
	ErrStoreFull = errors.New("client: the browser's storage is full")
	// ErrStoreGone is returned in the browser once the store's IndexedDB
	// database was deleted or closed under the open client (the user
	// cleared the site's data): nothing more is kept; close the client.
	ErrStoreGone = errors.New("client: the store was deleted while open")
	// ErrSecurity reports a key server or relay that misbehaved in a way
	// only an attacker would: a key set or bundle that does not verify, a
	// transparency log that is not consistent with the pinned checkpoint.
	// Nothing was sent to the keys involved.
	ErrSecurity = errors.New("client: security check failed")
	// ErrKeyChanged is returned by Send to a contact whose account key has
	// changed, until AcceptKeyChange (or MarkVerified with the new safety
	// number); for a verified contact the error is ErrSecurity wrapping
	// it (spec/client.md §6.2).
	ErrKeyChanged = errors.New("client: contact's account key changed")
	// ErrUnknownHandle is returned for a handle that has no account.
	ErrUnknownHandle = errors.New("client: no such account")
	// ErrInvalidHandle is returned for a handle that is not 3 to 32 of
	// a-z 0-9 . _ - (spec/keys.md §3).
	ErrInvalidHandle = errors.New("client: invalid handle")
	// ErrQueued is wrapped by Send's error when the message is queued
	// locally but the relay has not confirmed it yet: it will be sent
	// when the relay is reachable, and must not be sent again.
	ErrQueued = errors.New("client: message queued, not yet confirmed by the relay")
	// ErrMessageIDReused is returned by Send for a message id (from
	// WithMessageID) that this device used for a message to another
	// handle or with another plaintext: nothing is queued.
	ErrMessageIDReused = errors.New("client: message id already used for another message")
	// ErrInvalidMessageID is returned by Send for the zero message id.
	ErrInvalidMessageID = errors.New("client: invalid message id")
	// ErrTooLarge is returned by Send for a plaintext over MaxPlaintext.
	ErrTooLarge = errors.New("client: message too large")
	// ErrDeviceRevoked is returned once this device has been revoked by
	// another device of its account: the key server and the relay refuse
	// it, and it can neither send nor receive (EventRevoked).
	ErrDeviceRevoked = errors.New("client: this device has been revoked")
	// ErrNoAccountKey is returned by operations that need the account key
	// (backups, revocations) on a device that does not hold it.
	ErrNoAccountKey = errors.New("client: this device does not hold the account key")
)

// Config says where a client keeps its state and which servers it talks
// to.
type Config struct {
	// Dir is the store directory (spec/client-store.md §1). In the
	// browser (GOOS=js) it is the store's name: the store is the
	// IndexedDB database "sealpost:" + Dir (spec/client-store.md §8.5).
	Dir string
	// Passphrase or IdentityFile (the contents of an age identity file)
	// unlocks the store; exactly one must be set. The caller zeroes it
	// after Open returns.
	Passphrase   []byte
	IdentityFile []byte
	// Create makes Open create an empty store when Dir has none; without
	// it Open fails with ErrNoStore.
	Create bool
	// KeyServer is the key server's URL, https://HOST[:PORT].
	KeyServer string
	// Relay is the relay's URL, wss://HOST[:PORT]/v1/relay; empty means
	// the key server's host and port.
	Relay string
	// Blobs is the blob service's URL, https://HOST[:PORT]
	// (spec/attachments.md §4), where files are uploaded and downloaded;
	// empty means the key server's URL. CAFile and Pin apply to it too.
	Blobs string
	// CAFile names a PEM file of root certificates for both servers; Pin
	// is the SHA-256 fingerprint of their certificate (as sealpostd prints
	// it). With neither, the system roots are used.
	CAFile string
	Pin    string
	// LogKey is the verifier key of the key server's directory log, as
	// sealpostd prints it ("<name>/sealpost-kt/v2+<id>+<key>"): the trust root
	// every key set is checked against (spec/client.md §6.1). The key
	// server's discovery document must publish this key. Required unless
	// TrustOnFirstUse is set or the store already holds a key learned
	// that way.
	LogKey string
	// KeyServerName is the key server's name (token audience
	// "keyserver:<name>", the name in its challenges). Empty means the
	// name in LogKey's origin; when both are set they must agree.
	KeyServerName string
	// TrustOnFirstUse, an explicit opt-in, lets a client without LogKey
	// take the log key and name from the key server's discovery document
	// the first time it needs them and keep them in its store; later
	// runs hold the server to them. Without LogKey this trusts the first
	// connection entirely.
	TrustOnFirstUse bool
	// MaxCheckpointAge is the oldest log checkpoint (by its timestamp,
	// spec/transparency.md §5.3) a key server answer is accepted under;
	// 0 means DefaultMaxCheckpointAge.
	MaxCheckpointAge time.Duration

	// now, if set (tests only), is the clock that checkpoint ages are
	// measured against instead of time.Now.
	now func() time.Time
	// Witnesses are the verifier keys of the transparency log witnesses
	// this client trusts (spec/transparency-v2.md §7.1); with any, every
	// log checkpoint must carry valid cosignatures from WitnessQuorum of
	// them, else the answer is refused with ErrNoQuorum (§7.4).
	Witnesses []string
	// WitnessQuorum is how many of Witnesses must have cosigned; 0 means
	// all of them.
	WitnessQuorum int
	// Invite is the invite code Register sends to an invite-only server.
	Invite string
	// Logger receives the client's logs (never plaintext, keys or
	// envelopes); nil means slog.Default().
	Logger *slog.Logger
	// WorkFactor is the scrypt work factor (log2 N) for a new store's
	// passphrase and for backups; 0 means 18.
	WorkFactor int

	// FollowKeyChanges opts in to "warn and continue" for contacts the
	// user has not verified: when the transparency log holds a new account
	// key for one, the client follows it at once (EventKeyChanged is still
	// reported) instead of refusing to send until AcceptKeyChange. Never
	// the default; verified contacts are never followed (spec/client.md
	// §6.2).
	FollowKeyChanges bool

	// NoDeliveryReceipts stops the delivery receipts the client sends by
	// itself when the application acks a message; NoReadReceipts stops
	// the read receipts MarkRead sends to senders (it still tells this
	// account's other devices). spec/client.md §12.2.
	NoDeliveryReceipts bool
	NoReadReceipts     bool

	// SendMode says how envelopes for other accounts reach the relay:
	// SendAuthenticated (the zero value) or SendAnonymous, on an anonymous
	// connection paid with send tokens so that the relay cannot tell who
	// sent them (spec/client.md §13).
	SendMode SendMode
	// Dial, if set, opens every connection to the key server and the
	// relay, for example through a SOCKS5 proxy such as Tor (SOCKS5): an
	// anonymous send hides the account from the relay, not the network
	// address it comes from.
	Dial DialFunc
	// Push, if set, is this device's push target (spec/client.md §16.1):
	// stored, and registered with the relay after every connection, so
	// that the relay wakes the device when it is not connected. nil keeps
	// the target set with SetPush, if any.
	Push *PushTarget
	// NetworkID, if set, names the network the device is on (a Wi-Fi
	// SSID, "cellular"): the adaptive heartbeat remembers what works per
	// network (spec/push.md §9.4). nil means the local IP address of the
	// relay connection's socket.
	NetworkID func() string
}

// DefaultMaxCheckpointAge is the default Config.MaxCheckpointAge
// (spec/client.md §6.1). Key servers sign an unchanged log again every
// 10 minutes by default.
const DefaultMaxCheckpointAge = 24 * time.Hour

// Client is one device of one account. Its methods are safe for
// concurrent use.
type Client struct {
	cfg   Config
	log   *slog.Logger
	store *localstore.Store
	tls   *tls.Config
	ks    *ksclient.Client

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	messages chan *Message
	events   chan Event

	mu     sync.Mutex // guards the fields below
	closed bool
	id     *identity // nil until registered
	tokens *ksclient.Tokens
	link   *relaylink.Link
	dir    map[string]*dirEntry // verified key sets by handle
	dirGen uint64               // counts the changes of dir
	// recipients caches each recent group's recipient list (groupmsg.go).
	recipients map[group.ID]recipientsCache
	// refresh holds the handles to look up again in the background
	// (directory.go), refreshing whether its loop runs.
	refresh    map[string]bool
	refreshing bool
	lanes      map[laneKey]*lane   // running lanes of the outbox (outbox.go)
	watches    map[*watch]struct{} // Sends waiting for their rows (outbox.go)

	pinMu    sync.Mutex     // guards the pin: lookups verify and advance it one at a time
	verifier *kt.Verifier   // the log's verifier (trust.go)
	logKey   string         // the log key learned on first use and stored, if any
	pinText  []byte         // the stored pinned checkpoint, until verified
	pin      *kt.Checkpoint // the verified pinned checkpoint
	vrfKey   *vrf.PublicKey // the directory's VRF key, from discovery; every leaf must name it

	sessMu  sync.Mutex // serialises changes to sessions and prekeys
	maintMu sync.Mutex // serialises prekey maintenance

	// opMu is read-held by every public operation and write-held by
	// Close while it destroys the keys, so that no operation reads a
	// destroyed key buffer.
	opMu sync.RWMutex

	inboxDrained chan struct{} // closed once the inbox left by an earlier run is handed over
	maintain     chan struct{} // wakes the prekey maintenance loop
	receipts     chan struct{} // wakes the receipt loop (loops.go)
	acksPending  atomic.Int64  // messages acked whose commit has not run (SendReceipts)

	anon anonymous // the anonymous connection and send-token wallet (anonymous.go)
	kems kemIndex  // key ids of this device's last-resort KEM prekeys (sealkeys.go)
	// accessMu serialises telling the relay the access setting (access.go).
	accessMu sync.Mutex
	// uploading holds the files being uploaded, each closed when its
	// upload stops (attach.go); blobs is the blob service's client; both
	// guarded by mu.
	uploading map[MessageID]chan struct{}
	blobs     *blobclient.Client
	// spooled are the files whose spool this process wrote (and so
	// knows whole); guarded by mu.
	spooled map[MessageID]bool
	// groupMu serialises group sends: a sending chain is made or
	// distributed, then advanced, by one group message at a time
	// (groupmsg.go).
	groupMu sync.Mutex
	// groupAnswered are queued group messages the relay answered, taken
	// off the queue in the next transaction that queues one (groupmsg.go);
	// guarded by mu.
	groupAnswered map[MessageID]bool
	// groupStates caches the decoded current state of recently used
	// groups by their stored bytes (groups.go); guarded by mu.
	groupStates map[GroupID]decodedGroup
	// sentToSets caches the set of devices each recent group's chain went
	// to (groupmsg.go); guarded by mu.
	sentToSets map[GroupID]sentToCache
	// rebaseMu serialises the rebasing of lost group changes (groups.go).
	rebaseMu sync.Mutex
	// outOfSync is what EventGroupOutOfSync reported (groupmsg.go), so
	// that it is reported once; guarded by mu.
	outOfSync map[outOfSyncKey]bool
	// syncReplied is when this device last answered a member's GroupSync
	// about a group (groupsync.go); guarded by mu.
	syncReplied map[outOfSyncKey]time.Time
	expiry      chan struct{} // wakes the expiry loop (loops.go)

	trust trustState // the trust policy's state (monitor.go)

	sync    syncState // the Syncs running (sync.go)
	handoff handoff   // the hand-over of deferred messages (sync.go)
	// pushMu serialises changes of the push target (push.go).
	pushMu sync.Mutex
	// pushRefused is the refusal last reported by EventPushRefused this
	// run, 0 if none (under pushMu).
	pushRefused wire.PushStatus
}

// Open opens (or with cfg.Create creates) the store in cfg.Dir and, if it
// holds an account, connects to the relay and starts receiving. Errors:
// ErrNoStore, ErrWrongPassphrase, ErrWrongIdentity, ErrLocked, ErrCorrupt,
// or a configuration problem.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	if c.store, err = openStore(ctx, cfg); err != nil {
		c.cancel()
		return nil, err
	}
	if err := c.load(ctx); err != nil {
		c.store.Close()
		c.cancel()
		return nil, err
	}
	return c, nil
}

// newClient checks cfg and builds everything but the store.
func newClient(cfg Config) (*Client, error) {
	var problems []error
	if cfg.Dir == "" {
		problems = append(problems, errors.New("client: Config.Dir is empty"))
	}
	if (len(cfg.Passphrase) == 0) == (len(cfg.IdentityFile) == 0) {
		problems = append(problems, errors.New("client: set exactly one of Config.Passphrase and Config.IdentityFile"))
	}
	if cfg.WorkFactor < 0 || cfg.WorkFactor > 22 {
		problems = append(problems, fmt.Errorf("client: Config.WorkFactor %d: want 1 to 22 (0 for the default)", cfg.WorkFactor))
	}
	// Config.KeyServer itself is checked by newServerTrust.
	if ksURL, err := url.Parse(cfg.KeyServer); err == nil && ksURL.Host != "" && cfg.Relay == "" {
		cfg.Relay = "wss://" + ksURL.Host + "/v1/relay"
	}
	if cfg.Blobs == "" {
		cfg.Blobs = cfg.KeyServer
	}
	if bu, err := url.Parse(cfg.Blobs); cfg.Blobs != "" && (err != nil || bu.Scheme != "https" || bu.Host == "") {
		problems = append(problems, fmt.Errorf("client: Config.Blobs %q: want https://HOST[:PORT]", cfg.Blobs))
	}
	if ru, err := url.Parse(cfg.Relay); cfg.Relay != "" && (err != nil || ru.Scheme != "wss" || ru.Host == "") {
		problems = append(problems, fmt.Errorf("client: Config.Relay %q: want wss://HOST[:PORT]/PATH", cfg.Relay))
	}
	if cfg.SendMode != SendAuthenticated && cfg.SendMode != SendAnonymous {
		problems = append(problems, fmt.Errorf("client: Config.SendMode %v: want SendAuthenticated or SendAnonymous", cfg.SendMode))
	}
	if cfg.Push != nil {
		if _, err := wireTarget(cfg.Push); err != nil {
			problems = append(problems, fmt.Errorf("client: Config.Push: %w", err))
		}
	}
	if cfg.MaxCheckpointAge < 0 {
		problems = append(problems, fmt.Errorf("client: Config.MaxCheckpointAge %v is negative", cfg.MaxCheckpointAge))
	} else if cfg.MaxCheckpointAge == 0 {
		cfg.MaxCheckpointAge = DefaultMaxCheckpointAge
	}
	t, errs := newServerTrust(serverTrustConfig{
		keyServer: cfg.KeyServer, caFile: cfg.CAFile, pin: cfg.Pin, logKey: cfg.LogKey,
		name: cfg.KeyServerName, witnesses: cfg.Witnesses, quorum: cfg.WitnessQuorum,
		dial: cfg.Dial,
	})
	if len(problems) > 0 || len(errs) > 0 {
		return nil, errors.Join(append(problems, errs...)...)
	}
	cfg.KeyServerName = t.name
	tlsCfg, ks := t.tls, t.ks
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Client{
		cfg:          cfg,
		log:          log,
		tls:          tlsCfg,
		ks:           ks,
		messages:     make(chan *Message),
		events:       make(chan Event, eventBuffer),
		dir:          map[string]*dirEntry{},
		lanes:        map[laneKey]*lane{},
		watches:      map[*watch]struct{}{},
		inboxDrained: make(chan struct{}),
		maintain:     make(chan struct{}, 1),
		receipts:     make(chan struct{}, 1),
		expiry:       make(chan struct{}, 1),
	}
	c.trust.init()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// trustConfig returns the TLS 1.3 client configuration for the servers:
// a pinned certificate fingerprint, roots from a file, or the system's.
func trustConfig(caFile, pin string) (*tls.Config, error) {
	switch {
	case caFile != "" && pin != "":
		return nil, errors.New("client: set at most one of Config.CAFile and Config.Pin")
	case pin != "":
		fp, err := tlsconfig.ParseFingerprint(pin)
		if err != nil {
			return nil, fmt.Errorf("client: Config.Pin: %w", err)
		}
		return tlsconfig.ClientConfig(fp), nil
	case caFile != "":
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client: Config.CAFile: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: Config.CAFile %s: no PEM certificates", caFile)
		}
		return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}, nil
	default:
		return &tls.Config{MinVersion: tls.VersionTLS13}, nil
	}
}

// unlock returns the store unlock for cfg.
func unlock(cfg Config) localstore.Unlock {
	if len(cfg.IdentityFile) > 0 {
		return localstore.IdentityFile(cfg.IdentityFile)
	}
	u := localstore.Passphrase(cfg.Passphrase)
	if cfg.WorkFactor > 0 {
		u = u.WithWorkFactor(cfg.WorkFactor)
	}
	return u
}

// openStore opens the store in cfg.Dir, creating it if asked to.
func openStore(ctx context.Context, cfg Config) (*localstore.Store, error) {
	s, err := localstore.Open(ctx, cfg.Dir, unlock(cfg))
	if errors.Is(err, fs.ErrNotExist) {
		if !cfg.Create {
			return nil, fmt.Errorf("%w: %s", ErrNoStore, cfg.Dir)
		}
		s, err = localstore.Create(ctx, cfg.Dir, unlock(cfg))
	}
	return s, storeError(err)
}

// storeError maps the local store's errors to the client's.
func storeError(err error) error {
	for _, m := range []struct{ from, to error }{
		{localstore.ErrWrongPassphrase, ErrWrongPassphrase},
		{localstore.ErrWrongIdentity, ErrWrongIdentity},
		{localstore.ErrCorrupt, ErrCorrupt},
		{localstore.ErrLocked, ErrLocked},
		{localstore.ErrClosed, ErrClosed},
		{localstore.ErrExist, ErrAlreadyRegistered},
		{localstore.ErrFull, ErrStoreFull},
		{localstore.ErrGone, ErrStoreGone},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w (%w)", m.to, err)
		}
	}
	return err
}

// load reads the identity and pinned checkpoint and, for a registered
// device, starts the background work.
func (c *Client) load(ctx context.Context) error {
	var (
		ident  localstore.Identity
		cp     []byte
		logKey string
	)
	err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		if ident, err = tx.Identity(); err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		if cp, _, err = tx.Checkpoint(); err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		if logKey, err = tx.LogKey(); err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	if err := c.trustStoredLogKey(logKey); err != nil {
		return err
	}
	if cp != nil {
		c.pinText = cp
	}
	if ident.Handle == "" {
		return nil
	}
	id, err := newIdentity(ident)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.id = id
	c.mu.Unlock()
	return c.start()
}

// Handle returns the account's handle, or "" before Register.
func (c *Client) Handle() string {
	if id := c.identity(); id != nil {
		return id.handle
	}
	return ""
}

// DeviceID returns this device's id, or 0 before Register.
func (c *Client) DeviceID() uint32 {
	if id := c.identity(); id != nil {
		return uint32(id.device)
	}
	return 0
}

// identity returns the device's identity, nil before Register.
func (c *Client) identity() *identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// registered returns the identity or ErrNotRegistered / ErrClosed.
func (c *Client) registered() (*identity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.id == nil {
		return nil, ErrNotRegistered
	}
	return c.id, nil
}

// Close stops receiving, closes the relay connection and the store, and
// destroys the keys held in memory. Operations in progress are cancelled
// and finish before Close returns. Messages received but not yet taken
// from Messages are kept and offered again after the next Open.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	link := c.link
	c.mu.Unlock()
	c.cancel()
	if link != nil {
		link.Close()
	}
	c.dropAnonConn(true)
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.wg.Wait()
	// Nothing sends on messages any more: the link's delivery loop and
	// the inbox drain have stopped.
	close(c.messages)
	err := c.store.Close()
	c.mu.Lock()
	if c.id != nil {
		c.id.destroy()
	}
	close(c.events)
	c.mu.Unlock()
	return err
}

// background runs fn in a goroutine Close waits for, unless the client is
// closed (false then: fn does not run).
func (c *Client) background(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Close sets closed before it waits for wg: no Add after that.
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

// beginRegistered is begin for an operation that needs the account
// (ErrNotRegistered before Register).
func (c *Client) beginRegistered(ctx context.Context) (context.Context, *identity, func(), error) {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	id, err := c.registered()
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	return ctx, id, done, nil
}

// begin starts a public operation: it fails with ErrClosed after Close,
// and returns a context that Close cancels and the function that ends the
// operation.
//
// Close is the only writer of opMu, and it sets closed before it locks: a
// read lock that cannot be had now means Close has begun. begin then
// fails at once instead of waiting, since Close waits for the client's
// background goroutines (c.wg), some of which (the file uploads,
// attach.go) run public operations: waiting would deadlock.
func (c *Client) begin(ctx context.Context) (context.Context, func(), error) {
	if !c.opMu.TryRLock() {
		return nil, nil, ErrClosed
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		c.opMu.RUnlock()
		return nil, nil, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
		c.opMu.RUnlock()
	}, nil
}

// emit hands e to the application without blocking: when Events is full
// the event is logged and dropped.
func (c *Client) emit(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	select {
	case c.events <- e:
	default:
		c.log.Warn("client: event dropped: the application is not reading Events", "kind", e.Kind.String())
	}
}
