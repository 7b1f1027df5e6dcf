package vectors

import "encoding/json"

// This file defines the cases of spec/vectors/relay-frames.json
// (spec/relay.md §3).

// RelayFrameCase is one case of relay-frames.json: bytes received as one
// WebSocket message, the frame cap they are received under, and what the
// decoder must answer.
type RelayFrameCase struct {
	ID      string `json:"id"`
	Comment string `json:"comment"`
	// Frame is the received message.
	Frame Hex `json:"frame"`
	// MaxFrame is the frame cap; 0 means the default max_frame (spec/relay.md §6).
	MaxFrame int `json:"max_frame"`
	// Result is ok, malformed or frame_too_large (the ErrorCode names of
	// spec/relay.md §10 without the ERROR_CODE_ prefix, lower-case).
	Result string `json:"result"`
	// Decoded is, for ok cases, the frame in the canonical protobuf JSON
	// mapping (proto field names); null otherwise.
	Decoded json.RawMessage `json:"decoded"`
}
