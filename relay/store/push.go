package store

import (
	"context"
	"errors"
	"time"
)

// Push registrations and wake-up bookkeeping (spec/push.md §2, §3). The
// relay keeps at most one push target per mailbox; the store also keeps,
// per registration, when the next wake-up may be claimed and which mail a
// delivered wake-up already covered, so that a relay that restarts (or
// another node sharing the database) neither loses a wake-up owed to a
// device whose mailbox still holds new mail nor repeats one it sent.

// PushKind is how a device is woken. The values are the wire's PushKind.
type PushKind uint8

const (
	// PushWeb is an RFC 8030 push resource (Web Push, UnifiedPush).
	PushWeb PushKind = 2
	// PushGateway is a push gateway (APNs, FCM; spec/push.md §5).
	PushGateway PushKind = 3
)

// PushTarget is where a device's wake-ups go.
type PushTarget struct {
	Kind PushKind
	// Endpoint is the push resource URL (PushWeb) or the gateway URL
	// (PushGateway).
	Endpoint string
	// P256dh (65 bytes) and Auth (16 bytes) are the subscription's keys
	// (PushWeb only; nil otherwise).
	P256dh, Auth []byte
	// Token is the device's gateway token (PushGateway only; nil
	// otherwise).
	Token []byte
}

// ErrInvalidPush reports a PushTarget that breaks the rules of Check.
var ErrInvalidPush = errors.New("store: invalid push target")

// Check reports whether t is well-formed: the fields its kind uses are
// set, the others nil. The relay has checked sizes and the endpoint
// already; stores call Check so that nothing half-formed is written.
func (t *PushTarget) Check() error {
	switch t.Kind {
	case PushWeb:
		if t.Endpoint == "" || len(t.P256dh) != 65 || len(t.Auth) != 16 || t.Token != nil {
			return ErrInvalidPush
		}
	case PushGateway:
		if t.Endpoint == "" || len(t.Token) == 0 || t.P256dh != nil || t.Auth != nil {
			return ErrInvalidPush
		}
	default:
		return ErrInvalidPush
	}
	return nil
}

// Equal reports whether t and u name the same target.
func (t *PushTarget) Equal(u *PushTarget) bool {
	return t.Kind == u.Kind && t.Endpoint == u.Endpoint &&
		string(t.P256dh) == string(u.P256dh) && string(t.Auth) == string(u.Auth) &&
		string(t.Token) == string(u.Token)
}

// PushRegistration is a mailbox's push target with its wake-up state.
type PushRegistration struct {
	Target PushTarget
	// Gen identifies this registration: every SetPush that changes the
	// target gives a new, larger Gen, so that the outcome of a wake-up
	// sent to an old target never touches a new one.
	Gen int64
	// NextWake is the earliest time the next wake-up may be claimed; zero
	// at registration.
	NextWake time.Time
	// Woken is the id of the newest envelope that a delivered wake-up
	// covered; 0 if none. Envelopes of the mailbox with an id up to it
	// owe no further wake-up. (Ids, not arrival times: a mailbox's ids
	// increase with arrival, and the (address, id) index finds the newest
	// and the first one after Woken without reading the queue.)
	Woken int64
	// Failures counts the wake-ups that failed since the last one that
	// was delivered.
	Failures int
}

// PushWake is a claimed wake-up: the relay sends it, then reports its
// outcome with WakeDone, WakeFailed or RemovePush.
type PushWake struct {
	Addr   []byte
	Gen    int64
	Target PushTarget
	// Through is the id of the newest envelope in the mailbox at the
	// claim: what a delivered wake-up covers.
	Through int64
	// Failures is the registration's count before this attempt.
	Failures int
}

// PushLater is a wake-up owed but not yet claimable: the mailbox has
// new mail, and its registration's NextWake is At.
type PushLater struct {
	Addr []byte
	At   time.Time
}

// PushQueue is the push part of a relay store. Both engines implement
// it; storetest checks them alike. Times are kept to the millisecond,
// like envelope arrival times.
type PushQueue interface {
	// SetPush makes t the push target of addr's mailbox, or removes the
	// registration when t is nil, durably; ErrNoMailbox if addr has no
	// mailbox, ErrInvalidPush if t fails Check. A target equal to the
	// current one changes nothing (Gen, NextWake, Woken and Failures
	// stay); a different one starts a new registration with a new Gen,
	// zero NextWake, zero Woken and no failures.
	SetPush(ctx context.Context, addr []byte, t *PushTarget) error

	// Push returns addr's registration, nil if it has none, or
	// ErrNoMailbox.
	Push(ctx context.Context, addr []byte) (*PushRegistration, error)

	// ClaimWakes looks at each address of addrs that has a registration
	// and at least one envelope unexpired at now whose id is above the
	// registration's Woken ("new mail"). If NextWake <= now it claims a
	// wake-up, setting NextWake to now+interval, and returns it in wakes;
	// otherwise it returns the address and NextWake in later. Addresses
	// without a mailbox, a registration or new mail are in neither.
	// Concurrent claims, from this store or another sharing the database,
	// never claim one registration twice within interval.
	ClaimWakes(ctx context.Context, addrs [][]byte, now time.Time, interval time.Duration) (wakes []PushWake, later []PushLater, err error)

	// WakeDone records that the wake-up claimed for registration gen of
	// addr was delivered: Woken becomes the larger of Woken and through,
	// and Failures 0. Nothing changes if addr's registration is no longer
	// gen.
	WakeDone(ctx context.Context, addr []byte, gen int64, through int64) error

	// WakeFailed records that the wake-up claimed for registration gen of
	// addr failed and may be tried again from next: Failures grows by one
	// and NextWake becomes next. It returns the new Failures, or 0 and no
	// error if addr's registration is no longer gen.
	WakeFailed(ctx context.Context, addr []byte, gen int64, next time.Time) (int, error)

	// RemovePush deletes addr's registration if it is still gen (its
	// endpoint is gone) and reports whether it did.
	RemovePush(ctx context.Context, addr []byte, gen int64) (bool, error)

	// PendingWakes returns, in byte order of address and after the
	// address after (nil: from the start), up to limit addresses whose
	// registration has new mail at now: the relay's scan at start.
	PendingWakes(ctx context.Context, after []byte, limit int, now time.Time) ([][]byte, error)
}
