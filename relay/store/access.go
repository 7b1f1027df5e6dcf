package store

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"time"
)

// Recipient access control (spec/relay.md §15.8): the rules both engines
// apply in their send transaction, written once here.

// AccessMode is who may send anonymous envelopes to a mailbox. The values
// are the wire's AccessMode.
type AccessMode uint8

const (
	// AccessOpen admits every item (the default of every mailbox).
	AccessOpen AccessMode = 1
	// AccessContacts admits items with a valid access verifier, and
	// others within the first-contact allowance.
	AccessContacts AccessMode = 2
)

// VerifierSize is the size of an access verifier (a SHA-256).
const VerifierSize = 32

// Access is a mailbox's access setting.
type Access struct {
	Mode AccessMode
	// Current is the current verifier; nil in mode AccessOpen.
	Current []byte
	// Previous is the previous verifier, valid while now <
	// PreviousUntil; nil if none.
	Previous      []byte
	PreviousUntil time.Time
}

// AccessChange is one SetAccess (spec/relay.md §15.8).
type AccessChange struct {
	Mode AccessMode
	// Verifier is the new current verifier, VerifierSize bytes with
	// AccessContacts, nil with AccessOpen.
	Verifier []byte
	// PreviousValid, if > 0, keeps the old current verifier valid until
	// Now + PreviousValid; 0 forgets it at once.
	PreviousValid time.Duration
	Now           time.Time
}

// ErrInvalidAccess reports an AccessChange that breaks the rules above.
var ErrInvalidAccess = errors.New("store: invalid access change")

// Check reports whether c is well-formed.
func (c AccessChange) Check() error {
	switch c.Mode {
	case AccessOpen:
		if c.Verifier != nil || c.PreviousValid != 0 {
			return ErrInvalidAccess
		}
	case AccessContacts:
		if len(c.Verifier) != VerifierSize || c.PreviousValid < 0 {
			return ErrInvalidAccess
		}
	default:
		return ErrInvalidAccess
	}
	return nil
}

// Apply returns the setting that c makes of old (spec/relay.md §15.8
// steps 1–4).
func (c AccessChange) Apply(old Access) Access {
	if c.Mode == AccessOpen {
		return Access{Mode: AccessOpen}
	}
	a := Access{Mode: AccessContacts, Current: c.Verifier}
	if old.Mode == AccessContacts && bytes.Equal(c.Verifier, old.Current) {
		// A repeat (step 4): a rotation keeps its previous verifier.
		if c.PreviousValid > 0 {
			a.Previous, a.PreviousUntil = old.Previous, old.PreviousUntil
		}
		return a
	}
	if c.PreviousValid > 0 && old.Current != nil {
		a.Previous, a.PreviousUntil = old.Current, c.Now.Add(c.PreviousValid)
	}
	return a
}

// Passes reports whether an item with verifier v passes a's check at now:
// mode open, or v equal to the current verifier or to the previous one
// before its expiry, compared in constant time (spec/relay.md §15.8).
func (a *Access) Passes(v []byte, now time.Time) bool {
	if a.Mode != AccessContacts {
		return true
	}
	if len(v) != VerifierSize {
		return false
	}
	ok := len(a.Current) == VerifierSize && subtle.ConstantTimeCompare(v, a.Current) == 1
	if len(a.Previous) == VerifierSize && now.Before(a.PreviousUntil) {
		ok = subtle.ConstantTimeCompare(v, a.Previous) == 1 || ok
	}
	return ok
}

// FirstContact decides an unsolicited item at now (ms since the Unix
// epoch) against a mailbox's first-contact allowance of perHour items per
// hour, kept as its theoretical arrival time tat (ms, 0 for a new
// mailbox): the generic cell-rate algorithm of spec/relay.md §15.8. It
// reports whether the item is admitted and the tat to store if it is
// stored.
func FirstContact(tat, now int64, perHour int) (next int64, ok bool) {
	if perHour <= 0 {
		return tat, false
	}
	t := max(int64(3_600_000)/int64(perHour), 1)
	start := max(tat, now)
	if start+t-now > int64(perHour)*t {
		return tat, false
	}
	return start + t, true
}
