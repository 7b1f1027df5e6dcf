package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/internal/secmem"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/link"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// Linking a new device to an account (spec/linking.md, spec/client.md §17).
var (
	// ErrLinkExpired: the link URI, or the link it names, has expired.
	ErrLinkExpired = errors.New("client: the link has expired")
	// ErrLinkNotFound: the relay has no link with the URI's id: it was
	// used, closed or never existed.
	ErrLinkNotFound = errors.New("client: no such link at the relay (used, closed or expired)")
	// ErrLinkRelay: the URI names another relay than this device's.
	ErrLinkRelay = errors.New("client: the link is at another relay than this account's")
	// ErrLinkDeclined: the user did not confirm the code, or the other
	// device said so.
	ErrLinkDeclined = errors.New("client: linking declined")
	// ErrLinkAborted: the other device gave up (its reason follows).
	ErrLinkAborted = errors.New("client: the other device aborted the linking")
	// ErrLinkTimeout: the other device did not answer in time.
	ErrLinkTimeout = errors.New("client: the other device did not answer in time")
	// ErrLinkNotStored: the key server took the new device, but storing
	// its identity failed: the account lists a device whose keys nobody
	// holds. Revoke it from another device and link again.
	ErrLinkNotStored = errors.New("client: the device was added to the account but could not be stored")
)

// Link defaults (spec/linking.md §9).
const (
	// LinkTTL is how long a link URI is valid.
	LinkTTL = 10 * time.Minute
	// linkAnswerTimeout bounds each wait for the other device once the
	// exchange has begun (its user may be reading the code).
	linkAnswerTimeout = 3 * time.Minute
	// linkSendItems bounds the records of one relay Send.
	linkSendItems = 4
	// linkLastWait bounds the last words of a link that is ending: an
	// Abort, closing the mailbox.
	linkLastWait = 10 * time.Second
)

// LinkOptions are the new device's side of linking.
type LinkOptions struct {
	// Name is this device's name, shown on the existing device and kept
	// among the account's devices only (1 to 64 bytes of UTF-8).
	Name string
	// OnURI is called once with the sealpost://link URI to show, as a QR
	// code (QRCode) and as text.
	OnURI func(uri string)
	// OnCode is called with the verification code once a device has
	// answered: the user checks that the existing device shows the same
	// code (and confirms there).
	OnCode func(code string)
	// Handle, when set, is the account this device is to join: an
	// account record for another handle is refused. Without it, Confirm
	// must ask the user. Someone who photographed the QR code can answer
	// before the user's own device and offer their account instead
	// (spec/linking.md §10.3); the handle, with the code, is what shows
	// it.
	Handle string
	// Confirm is called with the account's handle once the existing
	// device has sent it, before this device joins: it returns whether
	// the user wants to join that account. Required unless Handle is
	// set.
	Confirm func(ctx context.Context, handle string) (bool, error)
}

// Link makes this store a new device of an existing account
// (spec/linking.md): it opens a link at the relay, hands the URI to
// opts.OnURI, and waits until a device of the account scans it, the user
// confirms the code there, and the account's material arrives. It then
// adds this device at the key server under the certificate the existing
// device issued, stores the identity and the synced state in one
// transaction, publishes prekeys and connects. cfg.Dir must not hold a
// store. Nothing is registered before the whole snapshot has arrived and
// been checked: an exchange cut off before that leaves no device behind,
// and Link can be run again. ctx bounds the whole wait (the URI expires
// after LinkTTL in any case).
func Link(ctx context.Context, cfg Config, opts LinkOptions) (*Client, error) {
	if err := link.CheckName(opts.Name); err != nil {
		return nil, fmt.Errorf("client: device name: %w", err)
	}
	if opts.Handle == "" && opts.Confirm == nil {
		return nil, errors.New("client: Link needs the account's Handle or a Confirm function")
	}
	cfg.Create = true
	c, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.linkNew(ctx, opts); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) linkNew(ctx context.Context, opts LinkOptions) error {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if c.identity() != nil {
		return ErrAlreadyRegistered
	}
	if err := c.trustRoots(ctx); err != nil {
		return fmt.Errorf("client: reaching the key server: %w", err)
	}
	ksName, err := c.ks.Name(ctx)
	if err != nil {
		return fmt.Errorf("client: reaching the key server: %w", err)
	}
	dk, err := keys.GenerateDeviceKeys(rand.Reader)
	if err != nil {
		return err
	}
	defer dk.Zero()
	secret := make([]byte, wire.LinkSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	defer secmem.WipeBytes(secret)
	expires := time.Now().Add(LinkTTL).Truncate(time.Second)
	resp, err := link.NewResponder(rand.Reader, c.cfg.Relay, wire.LinkID(secret), dk.Public(), opts.Name, expires)
	if err != nil {
		return err
	}
	defer resp.Destroy()
	ctx, cancel := context.WithDeadline(ctx, expires)
	defer cancel()
	conn, _, err := relayclient.DialLinkVia(ctx, c.cfg.Relay, c.tls, secret, resp.Offer(), "", c.cfg.Dial)
	if err != nil {
		return fmt.Errorf("client: opening the link at the relay: %w", err)
	}
	defer conn.CloseNow()
	// However it ends, the URI is used: the mailbox goes (spec/relay.md
	// §17), so a second scan answers link_not_found.
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), linkLastWait)
		defer cancel()
		conn.Close(cctx)
	}()
	if opts.OnURI != nil {
		opts.OnURI(resp.URI().String())
	}

	// msg1: the first one that opens is the exchange; anything else in
	// the mailbox is someone else's noise (spec/linking.md §4.3).
	var (
		ch      *link.Channel
		replyID [32]byte
		msg2    []byte
		code    string
	)
	for ch == nil {
		d, err := linkNext(ctx, conn.Conn)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && time.Now().After(expires) {
				return ErrLinkExpired
			}
			return err
		}
		ch, replyID, msg2, code, err = resp.Accept(d.Envelope)
		if err != nil {
			// Someone else's noise, or a redelivery (spec/linking.md §4.3).
			c.log.Debug("client: link: dropped a message that is not an answer to this link")
			ch = nil
		}
		if err := conn.Ack(ctx, d.Id); err != nil {
			return fmt.Errorf("client: link: %w", err)
		}
	}
	defer ch.Destroy()
	reply := wire.LinkAddressOf(replyID)
	if err := linkSend(ctx, conn.Conn, reply, [][]byte{msg2}); err != nil {
		return err
	}
	if opts.OnCode != nil {
		opts.OnCode(code)
	}

	// The account record, then the snapshot (spec/linking.md §8).
	abort := func(reason link.AbortReason, cause error) error {
		if rec, err := ch.Seal(&link.Abort{Reason: reason, Text: linkAbortText(cause)}); err == nil {
			linkSendLast(ctx, conn.Conn, reply, rec)
		}
		return cause
	}
	rctx, rcancel := context.WithTimeout(ctx, linkAnswerTimeout)
	acct, err := linkAccount(rctx, conn.Conn, ch)
	if err != nil {
		rcancel()
		return linkWaitError(err)
	}
	defer acct.Zero()
	cert := acct.Certificate
	if cert.Keys != dk.Public() {
		rcancel()
		return abort(link.AbortRefused, fmt.Errorf("%w: the certificate sent is not for this device", ErrSecurity))
	}
	// Which account: the user's, not that of someone who answered the
	// QR code first (spec/linking.md §10.3).
	switch {
	case opts.Handle != "" && cert.Handle != opts.Handle:
		rcancel()
		return abort(link.AbortDeclined, fmt.Errorf("%w: the other device offered account %s, not %s", ErrLinkDeclined, cert.Handle, opts.Handle))
	case opts.Handle == "":
		ok, err := opts.Confirm(rctx, cert.Handle)
		if err != nil {
			rcancel()
			return abort(link.AbortCancelled, err)
		}
		if !ok {
			rcancel()
			return abort(link.AbortDeclined, fmt.Errorf("%w: account %s", ErrLinkDeclined, cert.Handle))
		}
	}
	snap, err := linkSnapshot(rctx, conn.Conn, ch, acct)
	rcancel()
	if err != nil {
		if errors.Is(err, link.ErrGap) || errors.Is(err, link.ErrMalformed) || errors.Is(err, link.ErrSnapshotMismatch) {
			return abort(link.AbortRefused, fmt.Errorf("client: link: %w", err))
		}
		return linkWaitError(err)
	}
	defer secmem.WipeBytes(snap)
	acctHandle, acctDevice := cert.Handle, uint32(cert.Device)
	var ak *keys.AccountPrivateKey
	if len(acct.AccountSeed) > 0 {
		ak, err = keys.NewAccountPrivateKey(acct.AccountSeed)
		if err != nil {
			return abort(link.AbortRefused, fmt.Errorf("%w: account key: %v", ErrSecurity, err))
		}
		defer ak.Zero()
		if ak.Public() != cert.AccountKey {
			return abort(link.AbortRefused, fmt.Errorf("%w: the account key sent did not sign the certificate", ErrSecurity))
		}
	}
	plan, err := parseLinkSnapshot(snap)
	if err != nil {
		return abort(link.AbortRefused, err)
	}
	if cp := plan.GetCheckpoint(); len(cp) > 0 && c.pinText == nil {
		c.pinText = cp
	}
	d, err := c.lookup(ctx, acctHandle, true)
	if err != nil {
		return abort(link.AbortRegister, err)
	}
	if d.entry.AccountKey != cert.AccountKey {
		return abort(link.AbortRefused, c.securityError(acctHandle, errors.New("the key server lists another account key than the linking device's")))
	}
	if err := cert.VerifyFor(acctHandle, d.entry.AccountKey); err != nil {
		return abort(link.AbortRefused, fmt.Errorf("%w: the certificate sent: %v", ErrSecurity, err))
	}

	// The key server learns of this device only now.
	chal, err := c.ks.Challenge(ctx, "")
	if err != nil {
		return abort(link.AbortRegister, fmt.Errorf("client: adding this device: %w", err))
	}
	sig, err := token.SignChallenge(dk, acctHandle, cert.Device, chal.Challenge, ksName)
	if err != nil {
		return abort(link.AbortRegister, err)
	}
	certBytes := cert.Marshal()
	if _, err := c.ks.AddDevice(ctx, acctHandle, &api.AddDeviceRequest{Certificate: certBytes, Challenge: chal.Challenge, ChallengeSignature: sig}); err != nil {
		return abort(link.AbortRegister, fmt.Errorf("client: adding device %d: %w", cert.Device, err))
	}
	c.forget(acctHandle)
	ident := localstore.Identity{
		Handle:      acctHandle,
		DeviceID:    acctDevice,
		SigningSeed: dk.SigningSeed(),
		DHPrivate:   dk.DHPrivate(),
		Certificate: certBytes,
	}
	if ak != nil {
		ident.AccountSeed = ak.Seed()
	}
	err = c.adopt(ctx, ident, func(tx localstore.Tx) error {
		if err := applyLinkSnapshot(tx, snap, acctHandle, acctDevice); err != nil {
			return err
		}
		if c.pin != nil {
			return tx.PutCheckpoint(c.pin.Signed, time.Now())
		}
		return nil
	})
	if err != nil {
		if c.identity() == nil {
			return abort(link.AbortRegister, fmt.Errorf("%w (device %d): %w", ErrLinkNotStored, cert.Device, err))
		}
		// Stored: this device is linked even if it has not reached the
		// relay yet (what adopt did not finish is retried on every
		// connection).
		c.log.Warn("client: linked, not yet connected", "err", err)
	}
	if rec, err := ch.Seal(&link.Linked{Device: cert.Device}); err == nil {
		if err := linkSend(ctx, conn.Conn, reply, [][]byte{rec}); err != nil {
			c.log.Warn("client: link: could not tell the other device that linking succeeded", "err", err)
		}
	}
	return nil
}

// linkWaitError names a wait for the other device that ran out.
func linkWaitError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrLinkTimeout
	}
	return err
}

// linkAbortText is the short reason an Abort record carries: the error's
// text, cut to what the record allows.
func linkAbortText(err error) string {
	s := err.Error()
	if len(s) > link.MaxAbortText {
		s = s[:link.MaxAbortText]
	}
	return strings.ToValidUTF8(s, "")
}

// linkNext waits for the next delivery on a link connection.
func linkNext(ctx context.Context, conn *relayclient.Conn) (*wire.Delivery, error) {
	select {
	case d, ok := <-conn.Deliveries():
		if !ok {
			<-conn.Done()
			return nil, fmt.Errorf("client: link connection: %w", conn.Err())
		}
		return d, nil
	case <-conn.Done():
		return nil, fmt.Errorf("client: link connection: %w", conn.Err())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// linkRecord waits for the next record of ch on conn, dropping redelivered
// ones (spec/linking.md §7.3).
func linkRecord(ctx context.Context, conn *relayclient.Conn, ch *link.Channel) (link.Record, error) {
	for {
		d, err := linkNext(ctx, conn)
		if err != nil {
			return nil, err
		}
		rec, err := ch.Open(d.Envelope)
		if aerr := conn.Ack(ctx, d.Id); aerr != nil {
			return nil, fmt.Errorf("client: link: %w", aerr)
		}
		// A redelivery, or noise from someone who knows the address
		// (spec/linking.md §7.3).
		if errors.Is(err, link.ErrDuplicate) || errors.Is(err, link.ErrDecrypt) || errors.Is(err, link.ErrMalformed) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("client: link: %w", err)
		}
		if a, ok := rec.(*link.Abort); ok {
			if a.Reason == link.AbortDeclined {
				return nil, fmt.Errorf("%w: %s", ErrLinkDeclined, a.Text)
			}
			return nil, fmt.Errorf("%w: %s", ErrLinkAborted, a.Text)
		}
		return rec, nil
	}
}

// linkAccount waits for the account record (spec/linking.md §8.1).
func linkAccount(ctx context.Context, conn *relayclient.Conn, ch *link.Channel) (*link.Account, error) {
	rec, err := linkRecord(ctx, conn, ch)
	if err != nil {
		return nil, err
	}
	acct, ok := rec.(*link.Account)
	if !ok {
		return nil, fmt.Errorf("client: link: %w: record type %d before the account record", link.ErrMalformed, rec.Type())
	}
	return acct, nil
}

// linkSnapshot reads the snapshot the account record announced and
// checks its size and hash (spec/linking.md §8.2).
func linkSnapshot(ctx context.Context, conn *relayclient.Conn, ch *link.Channel, acct *link.Account) ([]byte, error) {
	as := link.NewSnapshotAssembler(acct)
	for !as.Done() {
		rec, err := linkRecord(ctx, conn, ch)
		if err != nil {
			return nil, err
		}
		chunk, ok := rec.(*link.SnapshotChunk)
		if !ok {
			return nil, fmt.Errorf("%w: record type %d inside the snapshot", link.ErrMalformed, rec.Type())
		}
		if err := as.Add(chunk); err != nil {
			return nil, err
		}
	}
	return as.Snapshot()
}

// linkSentBytes counts the record bytes linkSend has had stored, for the
// benchmark of a large account's transfer.
var linkSentBytes atomic.Int64

// linkSend stores sealed records in the link mailbox at to, in order, a
// few per Send, waiting while the mailbox is full (the other device
// acks as it reads).
func linkSend(ctx context.Context, conn *relayclient.Conn, to []byte, recs [][]byte) error {
	for len(recs) > 0 {
		n := min(len(recs), linkSendItems)
		items := make([]*wire.Item, n)
		for i := range items {
			items[i] = &wire.Item{Recipient: to, Envelope: recs[i]}
		}
		var mid [wire.MessageIDSize]byte
		rand.Read(mid[:])
		st, _, err := conn.Send(ctx, mid, items)
		if err != nil {
			return fmt.Errorf("client: link: %w", err)
		}
		stored := 0
		for _, s := range st {
			if s != wire.Status_STATUS_STORED {
				break
			}
			stored++
		}
		for _, r := range recs[:stored] {
			linkSentBytes.Add(int64(len(r)))
		}
		recs = recs[stored:]
		if stored == n {
			continue
		}
		switch st[stored] {
		case wire.Status_STATUS_QUEUE_FULL, wire.Status_STATUS_QUOTA:
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		case wire.Status_STATUS_NO_MAILBOX:
			return ErrLinkNotFound
		default:
			return fmt.Errorf("client: link: the relay refused a record: %v", st[stored])
		}
	}
	return nil
}

// linkSendLast sends rec, an Abort, even when ctx has ended, for at most
// linkLastWait: the other device then stops at once instead of waiting
// out its timeout.
func linkSendLast(ctx context.Context, conn *relayclient.Conn, to, rec []byte) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), linkLastWait)
	defer cancel()
	linkSend(ctx, conn, to, [][]byte{rec})
}

// AddDeviceOptions are the existing device's side of linking.
type AddDeviceOptions struct {
	// Confirm shows the new device's name and the verification code and
	// returns whether the user saw the same code on the new device. It
	// must not return true without the user's comparison: the code is
	// what catches a URI whose keys someone replaced.
	Confirm func(ctx context.Context, name, code string) (bool, error)
	// HistoryDays, when above 0, sends the conversations of the last
	// HistoryDays days with the snapshot.
	HistoryDays int
	// WithoutAccountKey links a device that does not get the account
	// key: it can send and receive, but cannot add or revoke devices
	// or make backups (SECURITY.md, "Linked devices").
	WithoutAccountKey bool
}

// AddDevice links the new device whose link URI is uri to this account
// (spec/linking.md): it fetches the new device's offer, runs the
// key exchange, asks opts.Confirm to compare the code, certifies the new
// device with the account key and sends it the account material and a
// snapshot of this device's state (spec/client.md §17). It returns the
// new device's id once the new device says it is linked. Needs the
// account key (ErrNoAccountKey). Errors: link.ErrMalformedURI,
// ErrLinkExpired, ErrLinkNotFound, ErrLinkRelay, ErrLinkDeclined,
// ErrLinkAborted, ErrLinkTimeout, ErrSecurity (the offer does not match
// the URI).
func (c *Client) AddDevice(ctx context.Context, uri string, opts AddDeviceOptions) (uint32, error) {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	if !id.hasAccount {
		return 0, ErrNoAccountKey
	}
	if opts.Confirm == nil {
		return 0, errors.New("client: AddDevice needs a Confirm function")
	}
	u, err := link.ParseURI(uri)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	if !now.Before(u.Expires) {
		return 0, ErrLinkExpired
	}
	if !sameRelay(u.Relay, c.cfg.Relay) {
		return 0, fmt.Errorf("%w: %s, not %s", ErrLinkRelay, u.Relay, c.cfg.Relay)
	}
	aud, err := c.relayAudience(ctx)
	if err != nil {
		return 0, err
	}
	tok, err := c.tokens.Get(ctx, aud)
	if err != nil {
		return 0, fmt.Errorf("client: linking: %w", err)
	}
	secret := make([]byte, wire.LinkSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return 0, err
	}
	defer secmem.WipeBytes(secret)
	conn, _, err := relayclient.DialLinkVia(ctx, c.cfg.Relay, c.tls, secret, nil, tok, c.cfg.Dial)
	if err != nil {
		return 0, fmt.Errorf("client: opening a link at the relay: %w", err)
	}
	defer conn.CloseNow()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), linkLastWait)
		defer cancel()
		conn.Close(cctx)
	}()
	offer, _, err := conn.Fetch(ctx, u.LinkID)
	if errors.Is(err, relayclient.ErrNoLink) {
		return 0, ErrLinkNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("client: linking: %w", err)
	}
	ini, off, msg1, err := link.Initiate(rand.Reader, u, offer, conn.LinkID(), time.Now())
	switch {
	case errors.Is(err, link.ErrExpired):
		return 0, ErrLinkExpired
	case err != nil:
		return 0, fmt.Errorf("%w: the new device's offer: %w", ErrSecurity, err)
	}
	defer ini.Destroy()
	to := wire.LinkAddressOf(u.LinkID)
	if err := linkSend(ctx, conn.Conn, to, [][]byte{msg1}); err != nil {
		return 0, err
	}
	ch, code, err := linkFinish(ctx, conn.Conn, ini)
	if err != nil {
		return 0, err
	}
	defer ch.Destroy()
	abort := func(reason link.AbortReason, cause error) (uint32, error) {
		if rec, err := ch.Seal(&link.Abort{Reason: reason, Text: linkAbortText(cause)}); err == nil {
			linkSendLast(ctx, conn.Conn, to, rec)
		}
		return 0, cause
	}
	// N's name came inside msg2, sealed: the relay never saw it
	// (spec/linking.md §4.4).
	name := ini.Name()
	ok, err := opts.Confirm(ctx, name, code)
	if err != nil {
		return abort(link.AbortCancelled, err)
	}
	if !ok {
		return abort(link.AbortDeclined, ErrLinkDeclined)
	}

	// Certify the new device with the next id (spec/client.md §1.2).
	de, err := c.lookup(ctx, id.handle, true)
	if err != nil {
		return abort(link.AbortOther, err)
	}
	if err := c.checkOwn(de); err != nil {
		return abort(link.AbortOther, err)
	}
	var next keys.DeviceID = 1
	for _, dv := range de.entry.Devices {
		if dv.Certificate.Device >= next {
			next = dv.Certificate.Device + 1
		}
	}
	ak, release, err := id.accountPrivate()
	if err != nil {
		return abort(link.AbortOther, err)
	}
	cert, err := ak.CertifyDevice(id.handle, next, off.Device, time.Now())
	var seed []byte
	if err == nil && !opts.WithoutAccountKey {
		seed = bytes.Clone(ak.Seed())
	}
	release()
	defer secmem.WipeBytes(seed)
	if err != nil {
		return abort(link.AbortOther, err)
	}
	certBytes := cert.Marshal()
	// Approved before it exists: the monitor then takes the device with
	// exactly this certificate as this user's (spec/client.md §17.1).
	if err := c.approveLinkedDevice(ctx, uint32(next), certBytes, name); err != nil {
		return abort(link.AbortOther, err)
	}
	snap, err := c.buildLinkSnapshot(ctx, opts.HistoryDays, uint32(next), certBytes, name)
	if err != nil {
		return abort(link.AbortOther, err)
	}
	defer secmem.WipeBytes(snap)
	chunks, size, sum, err := link.SplitSnapshot(snap)
	if err != nil {
		return abort(link.AbortOther, fmt.Errorf("client: the snapshot: %w (send less history)", err))
	}
	rec, err := ch.Seal(&link.Account{Certificate: cert, AccountSeed: seed, SnapshotSize: size, SnapshotHash: sum})
	if err != nil {
		return abort(link.AbortOther, err)
	}
	recs := [][]byte{rec}
	for _, chunk := range chunks {
		rec, err := ch.Seal(chunk)
		if err != nil {
			return abort(link.AbortOther, err)
		}
		recs = append(recs, rec)
	}
	if err := linkSend(ctx, conn.Conn, to, recs); err != nil {
		return 0, err
	}

	// The new device adds itself at the key server, then says so.
	wctx, wcancel := context.WithTimeout(ctx, linkAnswerTimeout)
	r, err := linkRecord(wctx, conn.Conn, ch)
	wcancel()
	if err != nil {
		return 0, linkWaitError(err)
	}
	l, ok2 := r.(*link.Linked)
	if !ok2 || l.Device != next {
		return 0, fmt.Errorf("client: link: %w: the new device's answer", link.ErrMalformed)
	}
	c.forget(id.handle)
	// The new device knows no group yet (spec/groups.md §8.6).
	c.background(func() { c.sendGroupSnapshots(c.ctx) })
	c.kickMonitor()
	return uint32(next), nil
}

// linkFinish waits for the new device's answer to msg1, dropping what
// does not open (spec/linking.md §4.4).
func linkFinish(ctx context.Context, conn *relayclient.Conn, ini *link.Initiator) (*link.Channel, string, error) {
	ctx, cancel := context.WithTimeout(ctx, linkAnswerTimeout)
	defer cancel()
	var last error
	for {
		d, err := linkNext(ctx, conn)
		if err != nil {
			if last != nil && errors.Is(err, context.DeadlineExceeded) {
				return nil, "", fmt.Errorf("%w (and an answer that did not check: %w)", ErrLinkTimeout, last)
			}
			return nil, "", linkWaitError(err)
		}
		if err := conn.Ack(ctx, d.Id); err != nil {
			return nil, "", fmt.Errorf("client: link: %w", err)
		}
		ch, code, err := ini.Finish(d.Envelope)
		if err == nil {
			return ch, code, nil
		}
		if errors.Is(err, link.ErrCommitMismatch) {
			// The answer opened under the keys but broke the commitment:
			// whoever sent it is not the device whose offer was fetched.
			return nil, "", fmt.Errorf("%w: the new device's answer: %w", ErrSecurity, err)
		}
		last = err
	}
}

// sameRelay reports whether two relay URLs name the same relay: scheme
// and host compared without case, the path as is.
func sameRelay(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) && ua.EscapedPath() == ub.EscapedPath()
}
