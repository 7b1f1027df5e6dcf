package client

import (
	"errors"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/link"
)

// ErrorCode returns a short stable word for the client's own errors — the
// codes the sealpost command prints with --json and the web client's
// JavaScript API rejects with (README.md, web/README.md) — or "" when err
// is none of them (a network failure, a context ending, an application's
// own error), which the caller classifies itself.
func ErrorCode(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, keys.ErrSafetyNumberMismatch):
		return "safety_number_mismatch"
	case errors.Is(err, ErrKeyChanged):
		return "key_changed"
	case errors.Is(err, ErrDeviceRevoked):
		return "device_revoked"
	case errors.Is(err, ErrAttachmentCorrupt):
		return "attachment_corrupt"
	case errors.Is(err, ErrAttachmentGone):
		return "attachment_gone"
	case errors.Is(err, ErrFileRefused):
		return "file_refused"
	case errors.Is(err, ErrSecurity):
		return "security"
	case errors.Is(err, ErrInvalidContent), errors.Is(err, ErrTooLarge):
		return "invalid_content"
	case errors.Is(err, ErrInvalidHandle), errors.Is(err, keys.ErrInvalidHandle), errors.Is(err, ErrInvalidPushTarget),
		errors.Is(err, link.ErrMalformedURI), errors.Is(err, link.ErrUnsupportedVersion):
		return "usage"
	case errors.Is(err, ErrWrongPassphrase), errors.Is(err, ErrWrongIdentity):
		return "wrong_passphrase"
	case errors.Is(err, ErrLocked):
		return "locked"
	case errors.Is(err, ErrNoStore):
		return "no_store"
	case errors.Is(err, ErrNotRegistered):
		return "not_registered"
	case errors.Is(err, ErrAlreadyRegistered):
		return "store_exists"
	case errors.Is(err, ErrCorrupt):
		return "corrupt_store"
	case errors.Is(err, ErrStoreFull):
		return "store_full"
	case errors.Is(err, ErrStoreGone):
		return "store_gone"
	case errors.Is(err, ErrUnknownMessage):
		return "unknown_message"
	case errors.Is(err, ErrNotSender):
		return "not_sender"
	case errors.Is(err, ErrBlocked):
		return "blocked"
	case errors.Is(err, ErrGroupRefused):
		return "group_refused"
	case errors.Is(err, ErrPushRefused):
		return "push_refused"
	case errors.Is(err, ErrLinkExpired):
		return "link_expired"
	case errors.Is(err, ErrLinkNotFound):
		return "link_not_found"
	case errors.Is(err, ErrLinkDeclined):
		return "link_declined"
	case errors.Is(err, ErrLinkAborted):
		return "link_aborted"
	case errors.Is(err, ErrLinkTimeout):
		return "link_timeout"
	case errors.Is(err, ErrLinkRelay):
		return "link_relay"
	case errors.Is(err, ErrLinkNotStored):
		return "link_not_stored"
	case errors.Is(err, ErrUnknownGroup):
		return "unknown_group"
	case errors.Is(err, ErrUnknownHandle):
		return "no_such_account"
	case errors.Is(err, ErrHandleTaken):
		return "handle_taken"
	case errors.Is(err, ErrQueued):
		return "queued"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrNoQuorum):
		return "no_quorum"
	case errors.Is(err, ErrNotConnected):
		return "not_connected"
	case errors.Is(err, ErrClosed):
		return "closed"
	}
	return ""
}
