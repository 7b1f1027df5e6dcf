package content

import (
	"fmt"
	"unicode/utf8"

	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/crypto/keys"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func invalidUTF8(fd protoreflect.FieldDescriptor) error {
	return fmt.Errorf("%w: %s", ErrInvalidUTF8, fd.FullName())
}

// check applies the field rules of spec/content.md §4 to a decoded
// Content. Unknown fields are not looked at (§5).
func check(c *Content) error {
	m := c.Content
	if len(m.AccessKey) != 0 && len(m.AccessKey) != AccessKeySize {
		return malformed("access key of %d bytes", len(m.AccessKey))
	}
	if g := m.GetGroup(); g != nil && len(g.GetGroupId()) != GroupIDSize {
		return malformed("group context with a group id of %d bytes", len(g.GetGroupId()))
	}
	if g := m.GetGroup(); g != nil && len(g.GetStateHash()) != 0 && len(g.GetStateHash()) != GroupIDSize {
		return malformed("group context with a state hash of %d bytes", len(g.GetStateHash()))
	}
	if r := m.GetReplyTo(); r != nil {
		if err := checkReplyTo(r); err != nil {
			return err
		}
	}
	k := c.Kind()
	if m.ReplyTo != nil && k != KindText && k != KindAttachment && k != KindUnknown {
		return malformed("reply_to with a %s", k)
	}
	switch x := m.Kind.(type) {
	case *contentpb.Content_Text:
		return checkText(x.Text.GetBody(), "text")
	case *contentpb.Content_Reaction:
		r := x.Reaction
		if err := checkID(r.GetTargetId(), "reaction target"); err != nil {
			return err
		}
		return checkString(r.GetEmoji(), 1, MaxEmojiBytes, "emoji")
	case *contentpb.Content_Edit:
		if err := checkID(x.Edit.GetTargetId(), "edit target"); err != nil {
			return err
		}
		return checkText(x.Edit.GetBody(), "edit")
	case *contentpb.Content_Delete:
		return checkID(x.Delete.GetTargetId(), "delete target")
	case *contentpb.Content_Timer:
		if s := x.Timer.GetSeconds(); s != 0 && (s < MinTimerSeconds || s > MaxTimerSeconds) {
			return fmt.Errorf("%w: timer of %d seconds", ErrOutOfRange, s)
		}
		return nil
	case *contentpb.Content_Receipt:
		return checkReceipt(x.Receipt)
	case *contentpb.Content_Typing:
		switch x.Typing.GetState() {
		case contentpb.Typing_STATE_STARTED, contentpb.Typing_STATE_STOPPED:
			return nil
		}
		return malformed("typing state %d", x.Typing.GetState())
	case *contentpb.Content_Presence:
		return nil
	case *contentpb.Content_App:
		a := x.App
		if err := checkString(a.GetTypeUrl(), 1, MaxTypeURLBytes, "type URL"); err != nil {
			return err
		}
		if len(a.GetValue()) > MaxAppBytes {
			return tooLarge("application value of %d bytes", len(a.GetValue()))
		}
		return nil
	case *contentpb.Content_SenderKey:
		if len(x.SenderKey.GetGroupId()) != GroupIDSize || len(x.SenderKey.GetDistribution()) == 0 {
			return malformed("sender key distribution: a group id of %d bytes, a distribution of %d", len(x.SenderKey.GetGroupId()), len(x.SenderKey.GetDistribution()))
		}
		return nil
	case *contentpb.Content_GroupSync:
		if len(x.GroupSync.GetGroupId()) != GroupIDSize || len(x.GroupSync.GetStateHash()) != GroupIDSize {
			return malformed("group sync: a group id of %d bytes, a state hash of %d", len(x.GroupSync.GetGroupId()), len(x.GroupSync.GetStateHash()))
		}
		return nil
	case *contentpb.Content_GroupSnapshot:
		// The state is spec/groups.md's to check (§4.14).
		if len(x.GroupSnapshot.GetGroupId()) != GroupIDSize || len(x.GroupSnapshot.GetState()) == 0 {
			return malformed("group snapshot: a group id of %d bytes, a state of %d", len(x.GroupSnapshot.GetGroupId()), len(x.GroupSnapshot.GetState()))
		}
		return nil
	case *contentpb.Content_Attachment:
		return checkAttachment(x.Attachment)
	case *contentpb.Content_Sync:
		return checkSync(x.Sync)
	case *contentpb.Content_GroupChange:
		// The bytes are spec/groups.md's to check (§4.11).
		if len(x.GroupChange.GetChange()) == 0 {
			return malformed("group change without a change")
		}
		return nil
	case nil:
		if len(c.Unknown()) == 0 && (len(m.AccessKey) == 0 || m.ReplyTo != nil) {
			return malformed("no kind")
		}
		return nil // a newer version's kind (§5), or an access update (§4.10)
	}
	return malformed("kind %T", m.Kind)
}

// checkID: a message id is exactly 16 bytes (§4).
func checkID(id []byte, what string) error {
	if len(id) != MessageIDSize {
		return malformed("%s of %d bytes", what, len(id))
	}
	return nil
}

// checkString: UTF-8 of min to max bytes; under min is malformed, over max
// too large.
func checkString(s string, min, max int, what string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s", ErrInvalidUTF8, what)
	}
	if len(s) > max {
		return tooLarge("%s of %d bytes", what, len(s))
	}
	if len(s) < min {
		return malformed("%s of %d bytes", what, len(s))
	}
	return nil
}

func checkText(s, what string) error { return checkString(s, 1, MaxTextBytes, what) }

func checkReplyTo(r *contentpb.ReplyTo) error {
	if err := checkID(r.GetMessageId(), "reply_to message id"); err != nil {
		return err
	}
	s := r.GetSender()
	if s == "" {
		return nil
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: reply_to sender", ErrInvalidUTF8)
	}
	if err := keys.CheckHandle(s); err != nil {
		return malformed("reply_to sender: %v", err)
	}
	return nil
}

func checkReceipt(r *contentpb.Receipt) error {
	switch r.GetType() {
	case contentpb.Receipt_TYPE_DELIVERED, contentpb.Receipt_TYPE_READ:
	default:
		return malformed("receipt type %d", r.GetType())
	}
	ids := r.GetTargetIds()
	if len(ids) > MaxReceiptIDs {
		return tooLarge("receipt of %d ids", len(ids))
	}
	if len(ids) == 0 {
		return malformed("receipt without ids")
	}
	for _, id := range ids {
		if err := checkID(id, "receipt target"); err != nil {
			return err
		}
	}
	if r.GetTimestamp() == 0 {
		return malformed("receipt without timestamp")
	}
	return nil
}

// checkAttachment applies spec/attachments.md §3.
func checkAttachment(a *contentpb.Attachment) error {
	if len(a.GetBlobId()) != BlobIDSize || len(a.GetKey()) != AttachmentKeySize || len(a.GetDigest()) != AttachmentDigest {
		return malformed("attachment: a blob id of %d bytes, a key of %d, a digest of %d", len(a.GetBlobId()), len(a.GetKey()), len(a.GetDigest()))
	}
	if a.GetSize() > MaxAttachmentSize {
		return fmt.Errorf("%w: attachment of %d bytes", ErrOutOfRange, a.GetSize())
	}
	ct := a.GetContentType()
	if len(ct) > MaxContentTypeBytes {
		return tooLarge("content type of %d bytes", len(ct))
	}
	for i := 0; i < len(ct); i++ {
		if ct[i] < 0x20 || ct[i] > 0x7e {
			return malformed("content type with byte %#x", ct[i])
		}
	}
	if err := checkString(a.GetFileName(), 0, MaxFileNameBytes, "file name"); err != nil {
		return err
	}
	return checkString(a.GetCaption(), 0, MaxCaptionBytes, "caption")
}

// checkSync applies spec/content.md §4.15: one change (or one of a newer
// version, kept as unknown), a valid handle, an account key of 32 bytes,
// a device id and a device name.
func checkSync(s *contentpb.Sync) error {
	switch x := s.Change.(type) {
	case *contentpb.Sync_Verified:
		if err := checkSyncHandle(x.Verified.GetHandle()); err != nil {
			return err
		}
		return checkAccountKey(x.Verified.GetAccountKey())
	case *contentpb.Sync_KeyAccepted:
		if err := checkSyncHandle(x.KeyAccepted.GetHandle()); err != nil {
			return err
		}
		return checkAccountKey(x.KeyAccepted.GetAccountKey())
	case *contentpb.Sync_Block:
		return checkSyncHandle(x.Block.GetHandle())
	case *contentpb.Sync_DeviceName:
		if x.DeviceName.GetDevice() == 0 {
			return malformed("sync: device 0")
		}
		return CheckDeviceName(x.DeviceName.GetName())
	case nil:
		if len(s.ProtoReflect().GetUnknown()) == 0 {
			return malformed("sync without a change")
		}
		return nil // a change of a newer version (§5)
	}
	return malformed("sync change %T", s.Change)
}

func checkSyncHandle(h string) error {
	if err := keys.CheckHandle(h); err != nil {
		return malformed("sync: handle: %v", err)
	}
	return nil
}

func checkAccountKey(k []byte) error {
	if len(k) != AccountKeySize {
		return malformed("sync: account key of %d bytes", len(k))
	}
	return nil
}

// CheckDeviceName checks a device name (spec/content.md §4.15): 1 to 64
// bytes of UTF-8 without control characters (C0, DEL, C1). Errors wrap
// ErrInvalidUTF8, ErrTooLarge or ErrMalformed.
func CheckDeviceName(name string) error {
	if err := checkString(name, 1, MaxDeviceName, "device name"); err != nil {
		return err
	}
	for _, r := range name {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return malformed("device name with control character %U", r)
		}
	}
	return nil
}
