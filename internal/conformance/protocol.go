// Package conformance runs spec/vectors against an implementation over the
// line protocol of spec/conformance.md: the driver writes one Request per
// line to the implementation's standard input and reads one Answer per line
// from its standard output, and compares each answer with what the vector
// file says.
//
// Each supported vector file has a Suite here, which turns its cases into
// questions (inputs only) and expected answers. The repository's own code
// answers the same questions (TestConformance in client, client/content and
// relay for their files, this package's tests for keys.json and seal.json
// through the exported crypto APIs), so the suites are checked against the
// Go implementation on every test run; cmd/sealpost-conformance runs them
// against another program.
package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Request is one line written to the implementation (spec/conformance.md
// §2): the vector file, the case id, and the case's inputs.
type Request struct {
	File string          `json:"file"`
	ID   string          `json:"id"`
	Case json.RawMessage `json:"case"`
}

// Answer is one line read from the implementation: the case id and either
// a result, an error name, or unsupported (the implementation does not
// implement this case's type; the case is skipped).
type Answer struct {
	ID          string          `json:"id"`
	Result      json.RawMessage `json:"result,omitempty"`
	Error       string          `json:"error,omitempty"`
	Unsupported bool            `json:"unsupported,omitempty"`
}

// MaxLine bounds one line either way.
const MaxLine = 4 << 20

// Handler answers one request; it is the implementation side of the
// protocol as a Go function.
type Handler func(req *Request) *Answer

// BadRequest is the error a program answers to a line it cannot read as a
// request (spec/conformance.md §2.3); it fails that check and only that one.
const BadRequest = "bad_request"

// Serve reads requests from r and writes the handler's answers to w, one
// line each, until r ends. A line that is not a request gets an answer
// with error BadRequest.
func Serve(r io.Reader, w io.Writer, h Handler) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	bw := bufio.NewWriter(w)
	for sc.Scan() {
		var req Request
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var a *Answer
		if err := dec.Decode(&req); err != nil {
			a = &Answer{ID: req.ID, Error: BadRequest}
		} else {
			a = h(&req)
			a.ID = req.ID
		}
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("conformance: %w", err)
		}
		bw.Write(append(b, '\n'))
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("conformance: %w", err)
		}
	}
	return sc.Err()
}

// Result returns an answer with v as its result.
func Result(v any) *Answer {
	b, err := json.Marshal(v)
	if err != nil {
		return &Answer{Error: "bad_result"}
	}
	return &Answer{Result: b}
}

// Error returns an answer naming an error.
func Error(name string) *Answer { return &Answer{Error: name} }

// Unsupported is the answer to a case type the handler does not implement.
func Unsupported() *Answer { return &Answer{Unsupported: true} }

// CaseType returns the "type" member of a vector case (spec/conformance.md
// §3), or false if the case is not a JSON object with a string type.
func CaseType(c json.RawMessage) (string, bool) {
	var typ struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(c, &typ) != nil {
		return "", false
	}
	return typ.Type, true
}
