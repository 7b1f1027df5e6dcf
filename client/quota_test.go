package client

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealpost/sealpost/relay"
)

// An envelope the relay answers quota stays queued and is sent again
// under the same relay id after retry_after_ms (spec/client.md §3.3): Send
// waits it out and succeeds once the recipient has drained its mailbox,
// and the message arrives once.
func TestSendWaitsOutRelayQuota(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := startServersWith(t, engineSQLite, func(c *relay.Config) {
		// A share of one envelope per sender of each of bob's devices.
		c.Limits.MaxQueueCount = 100
		c.Limits.QuotaSharePercent = 1
		c.Limits.QuotaShareRetry = 700 * time.Millisecond
		c.Registerer = reg
	})
	alice, bob := s.newUser("alice"), s.newUser("bob")
	send(t, alice, "bob", "one")

	done := make(chan error, 1)
	go func() {
		_, err := alice.Send(ctxT(t), "bob", []byte("two"))
		done <- err
	}()
	// The relay refuses "two" with quota: bob holds "one" unacked.
	quotaRefusals := func() float64 {
		n, err := testutil.GatherAndCount(reg, "sealpost_relay_refusals_total")
		if err != nil || n == 0 {
			return 0
		}
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "sealpost_relay_refusals_total" {
				continue
			}
			for _, m := range mf.Metric {
				for _, l := range m.Label {
					if l.GetName() == "reason" && l.GetValue() == "quota" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	deadline := time.Now().Add(10 * time.Second)
	for quotaRefusals() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the relay never answered quota")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Send returned %v while over quota", err)
	default:
	}
	// Bob receives (and acks) "one": his mailbox drains, the share frees,
	// and alice's retry stores "two".
	if m := recv(t, bob); string(m.Plaintext) != "one" {
		t.Fatalf("bob got %q", m.Plaintext)
	}
	if err := <-done; err != nil {
		if errors.Is(err, ErrQueued) && strings.Contains(err.Error(), "quota") {
			t.Fatalf("Send gave up while the share was free again: %v", err)
		}
		t.Fatalf("Send: %v", err)
	}
	if m := recv(t, bob); string(m.Plaintext) != "two" {
		t.Fatalf("bob got %q", m.Plaintext)
	}
	noMessage(t, bob, 300*time.Millisecond)
}
