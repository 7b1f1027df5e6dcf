package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
)

// Check is one question and the answer the vector file expects: a result
// (compared as JSON values: member order and number spelling do not
// matter) or an error name.
type Check struct {
	ID    string
	Case  any
	Want  any // the expected result, when Error is ""
	Error string
}

// Outcome is what happened to one check.
type Outcome struct {
	File, ID string
	// Status is "pass", "fail" or "skip" (the implementation answered
	// unsupported).
	Status string
	Detail string
}

// Run asks every check of suite over w and r, in order, and returns one
// outcome per check. It stops early only when the conversation breaks (the
// program exits, writes something that is not an answer, or answers
// another id); the checks not asked are then missing from the outcomes and
// err says why.
func Run(w io.Writer, r *bufio.Reader, s *Suite) ([]Outcome, error) {
	checks, err := s.Checks()
	if err != nil {
		return nil, err
	}
	var out []Outcome
	for _, c := range checks {
		q, err := json.Marshal(c.Case)
		if err != nil {
			return out, err
		}
		line, err := json.Marshal(&Request{File: s.File, ID: c.ID, Case: q})
		if err != nil {
			return out, err
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return out, fmt.Errorf("conformance: %s %s: writing: %w", s.File, c.ID, err)
		}
		b, err := readLine(r)
		if err != nil {
			return out, fmt.Errorf("conformance: %s %s: reading the answer: %w", s.File, c.ID, err)
		}
		var a Answer
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			return out, fmt.Errorf("conformance: %s %s: not an answer: %w: %.200q", s.File, c.ID, err, b)
		}
		if a.ID != c.ID {
			return out, fmt.Errorf("conformance: %s: answer for %q, want %q", s.File, a.ID, c.ID)
		}
		out = append(out, judge(s.File, &c, &a))
	}
	return out, nil
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		b, more, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, b...)
		if len(line) > MaxLine {
			return nil, fmt.Errorf("line longer than %d bytes", MaxLine)
		}
		if !more {
			return line, nil
		}
	}
}

func judge(file string, c *Check, a *Answer) Outcome {
	o := Outcome{File: file, ID: c.ID, Status: "fail"}
	switch {
	case a.Unsupported:
		o.Status = "skip"
	case (a.Error != "") == (len(a.Result) != 0):
		o.Detail = "an answer has exactly one of result and error"
	case c.Error != "":
		if a.Error == c.Error {
			o.Status = "pass"
		} else if a.Error != "" {
			o.Detail = fmt.Sprintf("error %q, want error %q", a.Error, c.Error)
		} else {
			o.Detail = fmt.Sprintf("result %s, want error %q", a.Result, c.Error)
		}
	case a.Error != "":
		o.Detail = fmt.Sprintf("error %q, want a result", a.Error)
	default:
		want, err := json.Marshal(c.Want)
		if err != nil {
			o.Detail = err.Error()
			break
		}
		if jsonEqual(a.Result, want) {
			o.Status = "pass"
		} else {
			o.Detail = fmt.Sprintf("result %s, want %s", a.Result, want)
		}
	}
	return o
}

// jsonEqual compares two JSON texts as values.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if decodeNumbers(a, &x) != nil || decodeNumbers(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func decodeNumbers(b []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	normalize(v)
	return nil
}

// number is a JSON number in canonical spelling, distinct from a string.
type number string

// normalize rewrites numbers in canonical form, so 1, 1.0 and 1e0 compare
// equal while 2^64-1 keeps every digit.
func normalize(v *any) {
	switch t := (*v).(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			*v = number(fmt.Sprint(i))
		} else if f, err := t.Float64(); err == nil && f == float64(int64(f)) && f < 1<<53 && f > -(1<<53) {
			*v = number(fmt.Sprint(int64(f)))
		} else {
			*v = number(t.String())
		}
	case []any:
		for i := range t {
			normalize(&t[i])
		}
	case map[string]any:
		for k, e := range t {
			normalize(&e)
			t[k] = e
		}
	}
}
