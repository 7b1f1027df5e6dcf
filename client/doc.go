// Package client is Sealpost's client library: the one package an
// application imports to give its users end-to-end encrypted messaging.
//
// A Client is one device of one account. It keeps its state in a
// directory (Config.Dir): identity keys, prekey private keys, sessions,
// contacts and their verified account keys, the pinned transparency
// checkpoint, the ids of processed envelopes and the queue of outgoing
// envelopes, in an SQLite file whose sensitive values are sealed with a
// random store key; the store key is wrapped with age to a passphrase or
// an age identity (spec/client-store.md). Built for the browser
// (GOOS=js GOARCH=wasm, the web client), the same state lives in
// IndexedDB, each row a record sealed with the store key under an HMAC
// name (spec/client-store.md §8), the key server is reached with the
// browser's fetch and the relay with its WebSocket, and file transfer is
// not available (ErrFileTransferUnsupported). While a Client is open its
// private keys are held in memguard's guarded memory (internal/secmem; in
// the browser, ordinary memory wiped on a best-effort basis) and destroyed
// by Close.
//
// What the servers see and cannot do:
//
//   - The key server holds public keys only. Every key set the client uses
//     is checked against the key server's transparency log: an inclusion
//     proof against a checkpoint consistent with the one this device
//     pinned. A key server that swaps a device key, forges a bundle or
//     shows a forked log is refused with ErrSecurity, and nothing is
//     encrypted to the forged keys.
//   - The relay stores sealed envelopes: it learns the recipient device
//     and sizes (padded), not the sender or the content.
//
// Sending: Send encrypts a message for every device of the recipient and
// every other device of the sender's own account that this device
// approves (PQXDH on first contact,
// then the Double Ratchet), queues the sealed envelopes locally and returns
// once the relay has stored them (spec/client.md §3).
//
//   - Order: the envelopes for each recipient device form one queue on
//     disk, first in, first out, and the relay is handed envelope N+1 for a
//     device only after it stored envelope N. Messages queued while the
//     relay was unreachable (ErrQueued), across restarts of either side,
//     keep their place: each device receives this device's messages in the
//     order their Sends queued them (call order, for Sends that do not
//     overlap).
//   - Nothing lost, nothing doubled: once Send has queued a message (it
//     returns its id, with nil or an error wrapping ErrQueued), the message
//     is sent, under the same ids, until the relay has it, also after a
//     crash. The message id is fixed before the first attempt; an
//     application that gives it itself (WithMessageID) and repeats the
//     Send with it after a crash gets the first attempt's outcome, nothing
//     encrypted twice, and recipients drop any second copy of a message id
//     from the same account: every device shows the message once.
//
// Receiving: messages arrive on Messages. Each envelope is decrypted and
// its message and the new session state stored in one local transaction,
// then offered to the application, and only once the application acks it
// (Message.Ack) is it deleted and the relay told to forget the envelope: a
// crash at any point loses nothing, and a message is stored once (see
// Messages for how an application sees each message exactly once).
//
// Conversation content (spec/client.md §12, spec/content.md): SendText and
// SendContent send typed messages (a protobuf Content: text, replies,
// application-defined kinds), React, Edit and Delete change earlier
// messages (edits and deletions only by their sender), SetTimer sets a
// conversation's disappearing-message timer, MarkRead and the automatic
// delivery receipts feed MessageStatus on the sender's device, and Typing
// and AnnouncePresence send ephemeral signals the relay never stores.
// Each device keeps the conversations' History with all of that applied;
// received messages carry their Content, and receipts, typing and presence
// arrive as Events.
//
// Keys and trust (spec/client.md §6.2, §6.3): nothing changes silently.
// SafetyNumber and MarkVerified let users compare account keys. A changed
// account key of a contact stops Send — ErrKeyChanged, or ErrSecurity for
// a verified contact, whose messages under the new key are held — until
// AcceptKeyChange or MarkVerified with the new safety number
// (Config.FollowKeyChanges opts in to following unverified contacts).
// Every client watches its own account: a device it did not create or
// approve raises EventOwnAccountChanged and gets no sent copies until
// ApproveDevice. Key changes, devices added and removed, and dropped
// envelopes are reported on Events.
//
// The protocol is spec/client.md.
package client
