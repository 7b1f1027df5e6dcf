// Package content implements the Sealpost content format (spec/content.md):
// the Content protobuf message carried as the body of a version 2 message
// payload. Parse applies every rule of the specification and keeps fields
// and kinds of a newer version as unknown; Marshal writes the canonical
// encoding (§3).
//
// The types are those generated from spec/content.proto in contentpb;
// Content wraps the top-level message.
package content

import (
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/client/content/contentpb"
	"google.golang.org/protobuf/proto"
)

// Limits, fixed by spec/content.md §4 (not configurable).
const (
	MaxSize         = 65536    // encoded Content
	MessageIDSize   = 16       // a message id (spec/client.md §2)
	MaxTextBytes    = 16384    // Text.body, Edit.body
	MaxEmojiBytes   = 64       // Reaction.emoji
	MaxReceiptIDs   = 256      // Receipt.target_ids
	MaxTypeURLBytes = 256      // AppDefined.type_url
	MaxAppBytes     = 32768    // AppDefined.value
	MinTimerSeconds = 30       // Timer.seconds, when not 0
	MaxTimerSeconds = 31536000 // 365 days
	AccessKeySize   = 32       // Content.access_key
	GroupIDSize     = 32       // a group id (spec/groups.md §3)
	AccountKeySize  = 32       // an account key in a Sync (§4.15)
	MaxDeviceName   = 64       // SyncDeviceName.name (§4.15)

	// Attachment pointer fields (spec/attachments.md §3).
	BlobIDSize          = 32
	AttachmentKeySize   = 32
	AttachmentDigest    = 32
	MaxAttachmentSize   = 1 << 40
	MaxContentTypeBytes = 255
	MaxFileNameBytes    = 255
	MaxCaptionBytes     = 16384
)

// The refusals of spec/errors.md §3.17. Every error Parse and Marshal
// return wraps exactly one of them.
var (
	// ErrMalformed: not a Content encoding §3 and §4 allow.
	ErrMalformed = errors.New("content: malformed")
	// ErrTooLarge: an encoding, text, emoji, type URL, application value
	// or receipt batch over its limit (§4).
	ErrTooLarge = errors.New("content: too large")
	// ErrInvalidUTF8: a string field of a known message that is not UTF-8.
	ErrInvalidUTF8 = errors.New("content: invalid UTF-8")
	// ErrOutOfRange: a timer other than 0 or 30 to 31536000 seconds.
	ErrOutOfRange = errors.New("content: out of range")
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

func tooLarge(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrTooLarge, fmt.Sprintf(format, a...))
}

// Content is one content message. The embedded message's getters read it;
// build one around a contentpb.Content with its Kind set (and ReplyTo for a
// reply to a text). The method Kind shadows the embedded oneof field: set
// and switch on c.Content.Kind.
type Content struct {
	*contentpb.Content
}

// Kind is the kind of a Content (spec/content.md §4).
type Kind int

const (
	KindUnknown       Kind = iota // no kind this version defines: kept (§5)
	KindText                      // Text
	KindReaction                  // Reaction
	KindEdit                      // Edit
	KindDelete                    // Delete
	KindTimer                     // Timer
	KindReceipt                   // Receipt
	KindTyping                    // Typing
	KindPresence                  // Presence
	KindApp                       // AppDefined
	KindAccess                    // an access update: only access_key (§4.10)
	KindGroupChange               // GroupChange (§4.11)
	KindSenderKey                 // SenderKeyDistribution (§4.12)
	KindGroupSync                 // GroupSync (§4.13)
	KindGroupSnapshot             // GroupSnapshot (§4.14)
	KindAttachment                // Attachment (§4.9, spec/attachments.md §3)
	KindSync                      // Sync (§4.15)
)

var kindNames = [...]string{"unknown", "text", "reaction", "edit", "delete", "timer", "receipt", "typing", "presence", "app", "access", "group-change", "sender-key", "group-sync", "group-snapshot", "attachment", "sync"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Ephemeral reports whether k is delivered only to connected devices and
// never stored (spec/content.md §4.8).
func (k Kind) Ephemeral() bool { return k == KindTyping || k == KindPresence }

// Kind returns c's kind: KindUnknown when none of this version's kinds is
// set (a kind of a newer version, kept in Unknown).
func (c *Content) Kind() Kind {
	if c == nil || c.Content == nil {
		return KindUnknown
	}
	switch c.Content.Kind.(type) {
	case *contentpb.Content_Text:
		return KindText
	case *contentpb.Content_Reaction:
		return KindReaction
	case *contentpb.Content_Edit:
		return KindEdit
	case *contentpb.Content_Delete:
		return KindDelete
	case *contentpb.Content_Timer:
		return KindTimer
	case *contentpb.Content_Receipt:
		return KindReceipt
	case *contentpb.Content_Typing:
		return KindTyping
	case *contentpb.Content_Presence:
		return KindPresence
	case *contentpb.Content_App:
		return KindApp
	case *contentpb.Content_GroupChange:
		return KindGroupChange
	case *contentpb.Content_SenderKey:
		return KindSenderKey
	case *contentpb.Content_GroupSync:
		return KindGroupSync
	case *contentpb.Content_GroupSnapshot:
		return KindGroupSnapshot
	case *contentpb.Content_Attachment:
		return KindAttachment
	case *contentpb.Content_Sync:
		return KindSync
	}
	if len(c.AccessKey) != 0 && c.ReplyTo == nil && len(c.Unknown()) == 0 {
		return KindAccess
	}
	return KindUnknown
}

// Unknown returns the fields of c's top-level message that this version
// does not define, as their protobuf encoding in the order they were
// received (spec/content.md §5): a kind or field of a newer version. The
// caller must not modify the result. Unknown fields inside known messages
// are kept too, and Marshal writes them all back.
func (c *Content) Unknown() []byte {
	if c == nil || c.Content == nil {
		return nil
	}
	return c.Content.ProtoReflect().GetUnknown()
}

// Parse decodes and checks a Content (spec/content.md §6). An encoding
// that fails a rule is refused with an error wrapping one of the
// sentinels; fields and kinds this version does not define are kept.
func Parse(b []byte) (*Content, error) {
	if len(b) > MaxSize {
		return nil, tooLarge("%d bytes", len(b))
	}
	if err := scan(b, (&contentpb.Content{}).ProtoReflect().Descriptor()); err != nil {
		return nil, err
	}
	m := new(contentpb.Content)
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, malformed("%v", err)
	}
	c := &Content{m}
	if err := check(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Marshal checks c against spec/content.md §4 and returns its canonical
// encoding (§3), unknown fields included.
func Marshal(c *Content) ([]byte, error) {
	if c == nil || c.Content == nil {
		return nil, malformed("nil content")
	}
	if err := check(c); err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c.Content)
	if err != nil {
		return nil, malformed("%v", err)
	}
	b, err = canonical(b, c.Content.ProtoReflect().Descriptor())
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, tooLarge("%d bytes", len(b))
	}
	// Unknown fields the caller set could collide with known ones; what
	// Marshal writes, Parse accepts.
	if err := scan(b, c.Content.ProtoReflect().Descriptor()); err != nil {
		return nil, err
	}
	return b, nil
}
