package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/sealpost/sealpost/keyserver/api"
)

// TestDirectoryAuditor: an auditor with no account audits from nothing,
// then only what is new; a checkpoint older than the audited tree is
// stale when it is a prefix of it, and a smaller tree that is not (a
// fork) is a security error; a refusal returns no state.
func TestDirectoryAuditor(t *testing.T) {
	s := startServers(t, engineSQLite)
	s.newUser("alice")
	s.newUser("bob")
	aud, err := NewDirectoryAuditor(AuditorConfig{KeyServer: s.url, Pin: s.pin, LogKey: s.logVerifierKey()})
	if err != nil {
		t.Fatal(err)
	}
	st1, rep, err := aud.Audit(ctxT(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Epochs < 3 || rep.Checked != rep.Epochs || rep.Updates != 2 || rep.Known != 0 {
		t.Fatalf("first audit: %+v", rep)
	}
	old := rep.Checkpoint
	s.newUser("carol")
	st2, rep2, err := aud.Audit(ctxT(t), st1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Epochs != rep.Epochs+1 || rep2.Checked != 1 || rep2.Updates != 1 {
		t.Fatalf("second audit: %+v after %+v", rep2, rep)
	}

	// The server replays its older checkpoint: a prefix of the audited
	// tree, so stale, not evidence.
	s.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path != "/v2/log/checkpoint" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(api.CheckpointResponse{Checkpoint: old})
	})
	if st, _, err := aud.Audit(ctxT(t), st2, nil); !errors.Is(err, ErrStale) || errors.Is(err, ErrSecurity) || st != nil {
		t.Fatalf("replayed older checkpoint: %v", err)
	}
	s.setIntercept(nil)

	// A damaged state is ErrCorrupt.
	if _, _, err := aud.Audit(ctxT(t), append(bytes.Clone(st2), 1), nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged state: %v", err)
	}

	// Configuration: a log key is required.
	if _, err := NewDirectoryAuditor(AuditorConfig{KeyServer: s.url, Pin: s.pin}); err == nil {
		t.Fatal("auditor without a log key")
	}
}
