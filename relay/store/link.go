package store

import (
	"context"
	"errors"
	"time"
)

// Link mailboxes (spec/relay.md §17): a mailbox that no account owns, at a
// link address (0x00 || link id), with an offer and an expiry. Sends to it
// are stored like any envelope while it is live; its envelopes expire with
// it (an envelope stored to it gets the earlier of Send.Expiry and the
// mailbox's expiry), and it is deleted, with its envelopes, by CloseLink or
// once expired by SweepLinks. An expired link mailbox is as absent to Send
// (NoMailbox) as one never made.
//
// Device mailboxes are never link mailboxes: the relay only opens link
// addresses through OpenLink, and device addresses never start with 0x00.

// Errors of OpenLink.
var (
	// ErrLinkExpired: the link mailbox exists and has expired.
	ErrLinkExpired = errors.New("store: link mailbox expired")
	// ErrLinkConflict: the link mailbox holds another offer.
	ErrLinkConflict = errors.New("store: link mailbox holds another offer")
	// ErrLinkCap: creating the link mailbox would exceed the cap of live
	// link mailboxes.
	ErrLinkCap = errors.New("store: too many live link mailboxes")
)

// Link is a live link mailbox as OpenLink and Link return it.
type Link struct {
	Offer   []byte    // the offer it was created with, nil for none
	Expires time.Time // when it expires (ms precision)
}

// Links is implemented by the engines that keep link mailboxes (both do).
type Links interface {
	// OpenLink opens the link mailbox of addr at now. If it does not
	// exist, it is created with offer and expires, unless maxLinks live
	// link mailboxes exist (ErrLinkCap); created is then true. If it
	// exists and is live, it is returned unchanged, unless offer is not
	// empty and differs from its offer (ErrLinkConflict). If it has
	// expired (and not yet been swept): ErrLinkExpired.
	OpenLink(ctx context.Context, addr, offer []byte, now, expires time.Time, maxLinks int) (l Link, created bool, err error)

	// Link returns the link mailbox of addr if it is live at now, else
	// ErrNoMailbox.
	Link(ctx context.Context, addr []byte, now time.Time) (Link, error)

	// CloseLink deletes the link mailbox of addr with its envelopes, live
	// or not, reporting whether there was one. It never deletes a device
	// mailbox.
	CloseLink(ctx context.Context, addr []byte) (bool, error)

	// SweepLinks deletes the link mailboxes expired at now with their
	// envelopes, returning how many mailboxes it deleted.
	SweepLinks(ctx context.Context, now time.Time) (int, error)
}
