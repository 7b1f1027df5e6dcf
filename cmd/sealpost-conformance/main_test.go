package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/internal/conformance"
)

// childEnv makes the test binary a conformance program (TestMain): "oracle"
// answers every check as the vector file expects, "liar" gets one wrong in
// client.json and one in content.json, "partial" answers only client.json,
// "quit" exits after one answer.
const childEnv = "SEALPOST_CONFORMANCE_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

func child(mode string) int {
	want := map[string]*conformance.Answer{}
	for _, s := range conformance.Suites() {
		cs, err := s.Checks()
		if err != nil {
			return 3
		}
		for _, c := range cs {
			a := conformance.Error(c.Error)
			if c.Error == "" {
				a = conformance.Result(c.Want)
			}
			want[s.File+" "+c.ID] = a
		}
	}
	n := 0
	err := conformance.Serve(os.Stdin, os.Stdout, func(req *conformance.Request) *conformance.Answer {
		n++
		switch {
		case mode == "quit" && n > 1:
			os.Exit(0)
		case mode == "liar" && (req.ID == "payload-version-2" || req.File == "content.json" && req.ID == "empty"):
			return conformance.Result(map[string]any{})
		case mode == "partial" && req.File != "client.json":
			return conformance.Unsupported()
		}
		a := want[req.File+" "+req.ID]
		if a == nil {
			return conformance.Error("unknown_case")
		}
		return a
	})
	if err != nil {
		return 3
	}
	return 0
}

func runChild(t *testing.T, mode string, flags ...string) (int, string) {
	t.Helper()
	t.Setenv(childEnv, mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(append(flags, "--", exe), &out, &errOut)
	return code, out.String() + errOut.String()
}

// TestRun runs the command against a program answering as the vectors
// expect, and against programs that get a case wrong, skip files, or stop
// answering.
func TestRun(t *testing.T) {
	code, out := runChild(t, "oracle")
	if code != 0 || strings.Contains(out, "FAIL") {
		t.Fatalf("oracle: exit %d\n%s", code, out)
	}
	for _, s := range conformance.Suites() {
		if !strings.Contains(out, "\n"+s.File+": ") && !strings.HasPrefix(out, s.File+": ") {
			t.Fatalf("oracle: no summary of %s\n%s", s.File, out)
		}
	}
	if !strings.Contains(out, "content.json: ") {
		t.Fatalf("oracle: content.json not run\n%s", out)
	}
	code, out = runChild(t, "liar", "-file", "client.json")
	if code != 1 || !strings.Contains(out, "FAIL client.json payload-version-2 result {}, want error \"malformed\"") {
		t.Fatalf("liar: exit %d\n%s", code, out)
	}
	code, out = runChild(t, "liar", "-file", "content.json")
	if code != 1 || !strings.Contains(out, "FAIL content.json empty result {}, want error \"malformed\"") || !strings.Contains(out, "content.json: ") {
		t.Fatalf("liar content.json: exit %d\n%s", code, out)
	}
	if code, out := runChild(t, "partial"); code != 0 || !strings.Contains(out, "relay-ids.json: 0 pass, 0 fail, ") {
		t.Fatalf("partial: exit %d\n%s", code, out)
	}
	if code, out := runChild(t, "partial", "-all"); code != 1 || !strings.Contains(out, "FAIL relay-ids.json") {
		t.Fatalf("partial -all: exit %d\n%s", code, out)
	}
	if code, out := runChild(t, "quit"); code != 1 || !strings.Contains(out, "reading the answer") {
		t.Fatalf("quit: exit %d\n%s", code, out)
	}
	if code, _ := runChild(t, "oracle", "-file", "nope.json"); code != 2 {
		t.Fatalf("unknown file: exit %d", code)
	}
}

// TestProtocolLines pins the wire form of a request and an answer
// (spec/conformance.md §2).
func TestProtocolLines(t *testing.T) {
	b, err := json.Marshal(&conformance.Request{File: "client.json", ID: "x", Case: json.RawMessage(`{"type":"payload"}`)})
	if err != nil || string(b) != `{"file":"client.json","id":"x","case":{"type":"payload"}}` {
		t.Fatalf("request %s, %v", b, err)
	}
	b, err = json.Marshal(conformance.Error("malformed"))
	if err != nil || string(b) != `{"id":"","error":"malformed"}` {
		t.Fatalf("answer %s, %v", b, err)
	}
	// A line that is not a request is answered bad_request (§2.3), and the
	// handler is not called.
	var out bytes.Buffer
	called := false
	err = conformance.Serve(strings.NewReader("not json\n{\"id\":\"q\",\"extra\":1}\n"), &out, func(*conformance.Request) *conformance.Answer {
		called = true
		return conformance.Error("malformed")
	})
	want := `{"id":"","error":"bad_request"}` + "\n" + `{"id":"q","error":"bad_request"}` + "\n"
	if err != nil || called || out.String() != want {
		t.Fatalf("bad lines: %q (handler called %v), %v; want %q", out.String(), called, err, want)
	}
}
