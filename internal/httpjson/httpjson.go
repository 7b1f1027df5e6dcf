// Package httpjson writes the JSON answers of Sealpost's HTTP services (the
// key server, the blob service): one object, no caching, no sniffing
// (spec/keyserver.md §2.4).
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers status with v as JSON and a final newline; if v does not
// marshal, it answers 500 with the internal error body.
func Write(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal","message":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
