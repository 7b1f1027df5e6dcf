// Package witness is the key server's client of transparency-log witnesses
// (spec/transparency-v2.md §7.2–§7.3): it submits each checkpoint of the
// log, with a consistency proof from the size the witness last cosigned,
// to witnesses speaking C2SP tlog-witness, and returns their C2SP
// tlog-cosignature lines, verified against each witness's key, for the
// key server to serve with the checkpoint.
//
// Clients verify the cosignatures and count the quorum with
// keyserver/kt (VerifyCosigned); this package is the server side only.
package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/keyserver/kt"
	"golang.org/x/mod/sumdb/tlog"
)

// Limits of spec/transparency-v2.md §7.2.
const (
	// MaxProofLines is the most consistency proof lines a request carries
	// (C2SP tlog-witness).
	MaxProofLines = 63
	// MaxResponseSize is the most bytes of a witness answer read.
	MaxResponseSize = 8 << 10
	// DefaultTimeout bounds one add-checkpoint request when Client.Timeout
	// is zero.
	DefaultTimeout = 10 * time.Second
	// maxAttempts bounds the requests of one Submit: the first, one retry
	// from the size a 409 names, and one more should the witness have
	// moved on in between.
	maxAttempts = 3
)

// Errors of a submission. Test with errors.Is; a *StatusError carries the
// HTTP status and, for ErrConflict, the witness's size.
var (
	// ErrUnavailable: the witness could not be reached, timed out, or
	// answered a 5xx or an unexpected status. Retry later.
	ErrUnavailable = errors.New("witness: unavailable")
	// ErrUnknownLog: the witness does not know the log's origin (404), or,
	// as litewitness answers, has no key for it (403 "unknown log").
	ErrUnknownLog = errors.New("witness: log unknown to the witness")
	// ErrForbidden: none of the checkpoint's signatures verify under the
	// log keys the witness trusts (403).
	ErrForbidden = errors.New("witness: checkpoint signature not trusted by the witness")
	// ErrBadRequest: the witness found the request malformed (400), for
	// instance an old size above the checkpoint's.
	ErrBadRequest = errors.New("witness: request refused as malformed")
	// ErrConflict: the witness has cosigned another size than the old size
	// sent (409), and Submit could not move on from it: the witness has
	// cosigned a larger tree, or the same size with another root.
	ErrConflict = errors.New("witness: witness holds a conflicting tree size")
	// ErrBadProof: the witness refused the consistency proof (422): the
	// checkpoint does not extend the tree the witness cosigned. For an
	// honest log this cannot happen; it is what a fork gets.
	ErrBadProof = errors.New("witness: consistency proof refused")
	// ErrBadResponse: a 200 answer without a valid cosignature by the
	// witness's key on the checkpoint submitted.
	ErrBadResponse = errors.New("witness: answer holds no valid cosignature")
)

// StatusError is a witness's refusal.
type StatusError struct {
	Kind   error // one of the Err* values
	Status int   // HTTP status
	// Known is the size the witness last cosigned, from a 409 answer
	// (text/x.tlog.size); -1 otherwise.
	Known int64
	Body  string // the start of the answer, for logs (no key material)
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%v (HTTP %d", e.Kind, e.Status)
	if e.Known >= 0 {
		msg += ", witness size " + strconv.FormatInt(e.Known, 10)
	}
	if e.Body != "" {
		msg += ": " + strconv.Quote(e.Body)
	}
	return msg + ")"
}

func (e *StatusError) Unwrap() error { return e.Kind }

// Client submits checkpoints to one witness.
type Client struct {
	// URL is the witness's submission prefix: requests go to
	// URL + "/add-checkpoint".
	URL string
	// Witness is the witness's name and key; answers are verified
	// against it.
	Witness kt.Witness
	// HTTP is the HTTP client; nil means http.DefaultClient. Each request
	// is bounded by Timeout regardless.
	HTTP *http.Client
	// Timeout bounds one request; zero means DefaultTimeout.
	Timeout time.Duration
}

// Prover returns the consistency proof from the tree of size older to the
// tree of size newer of the log (RFC 6962 §2.1.2): the key server's
// store, or kttest.Log.ProveConsistency.
type Prover func(ctx context.Context, older, newer int64) (tlog.TreeProof, error)

// AddCheckpoint makes one add-checkpoint request (C2SP tlog-witness):
// "old <oldSize>\n", one base64 line per proof hash, an empty line, then
// the signed checkpoint. On 200 it returns the witness's cosignature
// lines that verify under c.Witness's key on the checkpoint text, and
// ErrBadResponse if none does; every refusal is a *StatusError.
func (c *Client) AddCheckpoint(ctx context.Context, oldSize int64, proof tlog.TreeProof, signed []byte) ([]kt.CosignatureLine, error) {
	text, err := checkpointText(signed)
	if err != nil {
		return nil, err
	}
	if oldSize < 0 {
		return nil, fmt.Errorf("witness: old size %d", oldSize)
	}
	if len(proof) > MaxProofLines {
		return nil, fmt.Errorf("witness: consistency proof of %d hashes, more than %d", len(proof), MaxProofLines)
	}
	var body bytes.Buffer
	body.WriteString("old " + strconv.FormatInt(oldSize, 10) + "\n")
	for _, h := range proof {
		body.WriteString(h.String() + "\n")
	}
	body.WriteString("\n")
	body.Write(signed)

	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/add-checkpoint", &body)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.Witness.Name, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, c.Witness.Name, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading the answer: %w", ErrUnavailable, c.Witness.Name, err)
	}
	if len(answer) > MaxResponseSize {
		return nil, &StatusError{Kind: ErrBadResponse, Status: resp.StatusCode, Known: -1, Body: "answer longer than " + strconv.Itoa(MaxResponseSize) + " bytes"}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, refusal(resp, answer)
	}
	lines, err := kt.ParseCosignatures(answer)
	if err != nil {
		return nil, &StatusError{Kind: ErrBadResponse, Status: resp.StatusCode, Known: -1, Body: err.Error()}
	}
	var valid []kt.CosignatureLine
	for _, l := range lines {
		if _, err := kt.VerifyCosignature(c.Witness, text, l); err == nil {
			valid = append(valid, l)
		}
	}
	if len(valid) == 0 {
		return nil, &StatusError{Kind: ErrBadResponse, Status: resp.StatusCode, Known: -1, Body: "no line verifies under the witness key"}
	}
	return valid, nil
}

// refusal maps a non-200 answer to its StatusError (spec/transparency-v2.md §7.2).
func refusal(resp *http.Response, answer []byte) error {
	e := &StatusError{Status: resp.StatusCode, Known: -1, Body: snippet(answer)}
	switch resp.StatusCode {
	case http.StatusConflict:
		e.Kind = ErrConflict
		s, ok := strings.CutSuffix(string(answer), "\n")
		n, err := strconv.ParseInt(s, 10, 64)
		if ok && err == nil && n >= 0 && strconv.FormatInt(n, 10) == s {
			e.Known = n
		}
	case http.StatusNotFound:
		e.Kind = ErrUnknownLog
	case http.StatusForbidden:
		e.Kind = ErrForbidden
		if strings.HasPrefix(string(answer), "unknown log") {
			e.Kind = ErrUnknownLog
		}
	case http.StatusBadRequest:
		e.Kind = ErrBadRequest
	case http.StatusUnprocessableEntity:
		e.Kind = ErrBadProof
	default:
		e.Kind = ErrUnavailable
	}
	return e
}

// snippet is the start of an answer, printable ASCII only.
func snippet(b []byte) string {
	if len(b) > 120 {
		b = b[:120]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, strings.TrimSpace(string(b)))
}

// checkpointText returns the note text of a signed checkpoint: everything
// up to and including the newline before the blank line.
func checkpointText(signed []byte) ([]byte, error) {
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 || signed[len(signed)-1] != '\n' {
		return nil, errors.New("witness: not a signed note")
	}
	return signed[:i+1], nil
}

// Submit gets c's cosignature of signed, the checkpoint of size size,
// starting from oldSize, the size the witness is believed to have last
// cosigned (0 if unknown). A 409 naming a size between 0 and size moves
// the old size there, with a new proof from prove, and tries again (at
// most maxAttempts requests). It returns the verified cosignature lines
// and the size the witness now holds (size on success; on a conflict the
// witness's size if it said one, else oldSize), for the next Submit.
func (c *Client) Submit(ctx context.Context, signed []byte, size, oldSize int64, prove Prover) ([]kt.CosignatureLine, int64, error) {
	if size < 0 || oldSize < 0 {
		return nil, oldSize, fmt.Errorf("witness: sizes %d, %d", size, oldSize)
	}
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if oldSize > size {
			// The witness has cosigned a larger tree than this one: a
			// stale checkpoint, or a log that lost leaves.
			return nil, oldSize, &StatusError{Kind: ErrConflict, Status: http.StatusConflict, Known: oldSize}
		}
		proof := tlog.TreeProof{}
		if oldSize > 0 && oldSize < size {
			if proof, err = prove(ctx, oldSize, size); err != nil {
				return nil, oldSize, fmt.Errorf("witness: consistency proof %d → %d: %w", oldSize, size, err)
			}
		}
		var lines []kt.CosignatureLine
		lines, err = c.AddCheckpoint(ctx, oldSize, proof, signed)
		if err == nil {
			return lines, size, nil
		}
		var se *StatusError
		if !errors.As(err, &se) || se.Kind != ErrConflict || se.Known < 0 || se.Known == oldSize {
			return nil, oldSize, err
		}
		oldSize = se.Known
	}
	return nil, oldSize, err
}

// Result is one witness's outcome in SubmitAll.
type Result struct {
	Lines []kt.CosignatureLine // nil on error
	Size  int64                // the size the witness holds, for the next submission
	Err   error
}

// SubmitAll submits signed to every client at once, each from its
// oldSizes entry (missing or short: 0), and returns one Result per client
// in order, and signed with every verified cosignature line appended
// (kt.AppendCosignatures): what the key server serves.
func SubmitAll(ctx context.Context, clients []*Client, signed []byte, size int64, oldSizes []int64, prove Prover) ([]byte, []Result) {
	results := make([]Result, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		var old int64
		if i < len(oldSizes) {
			old = oldSizes[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines, known, err := c.Submit(ctx, signed, size, old, prove)
			results[i] = Result{Lines: lines, Size: known, Err: err}
		}()
	}
	wg.Wait()
	var all []kt.CosignatureLine
	for _, r := range results {
		all = append(all, r.Lines...)
	}
	out, err := kt.AppendCosignatures(signed, all)
	if err != nil {
		// Only an oversized result can fail here: serve the lines that fit.
		out = signed
		for _, l := range all {
			if next, err := kt.AppendCosignatures(out, []kt.CosignatureLine{l}); err == nil {
				out = next
			}
		}
	}
	return out, results
}
