//go:build !js

package localstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// spec/client-store.md §4.1: the push target round-trips sealed and is
// removed; the heartbeat row keeps one entry per network, the most
// recently put first, at most MaxHeartbeatNetworks.
func TestPushTargetAndHeartbeat(t *testing.T) {
	s, _ := create(t, pass("p"))
	p256 := bytes.Repeat([]byte{4}, 65)
	want := PushTarget{Kind: PushWebPush, Endpoint: "https://push.example/abc", P256dh: p256, Auth: bytes.Repeat([]byte{9}, 16), Status: 1}
	update(t, s, func(tx Tx) error {
		if _, err := tx.PushTarget(); !errors.Is(err, ErrNotFound) {
			t.Errorf("PushTarget of a new store: %v, want ErrNotFound", err)
		}
		if err := tx.PutPushTarget(PushTarget{Kind: 7}); err == nil {
			t.Error("PutPushTarget of kind 7 accepted")
		}
		return tx.PutPushTarget(want)
	})
	view(t, s, func(tx Tx) error {
		got, err := tx.PushTarget()
		if err != nil {
			return err
		}
		if got.Kind != want.Kind || got.Endpoint != want.Endpoint || !bytes.Equal(got.P256dh, want.P256dh) ||
			!bytes.Equal(got.Auth, want.Auth) || got.Token != nil || got.Status != want.Status {
			t.Errorf("PushTarget = %+v, want %+v", got, want)
		}
		return nil
	})
	update(t, s, func(tx Tx) error { return tx.DeletePushTarget() })
	view(t, s, func(tx Tx) error {
		if _, err := tx.PushTarget(); !errors.Is(err, ErrNotFound) {
			t.Errorf("PushTarget after delete: %v, want ErrNotFound", err)
		}
		return nil
	})

	until := t0.Add(time.Hour)
	update(t, s, func(tx Tx) error {
		if _, err := tx.Heartbeat("10.0.0.2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Heartbeat of a new store: %v, want ErrNotFound", err)
		}
		for i := range MaxHeartbeatNetworks + 2 {
			if err := tx.PutHeartbeat(fmt.Sprintf("net%d", i), Heartbeat{Good: time.Duration(i+1) * time.Second}); err != nil {
				return err
			}
		}
		return tx.PutHeartbeat("net5", Heartbeat{Good: 45 * time.Second, Bad: 60 * time.Second, BadUntil: until})
	})
	view(t, s, func(tx Tx) error {
		hb, err := tx.Heartbeat("net5")
		if err != nil {
			return err
		}
		if hb.Good != 45*time.Second || hb.Bad != 60*time.Second || !hb.BadUntil.Equal(until) {
			t.Errorf("Heartbeat(net5) = %+v", hb)
		}
		for _, gone := range []string{"net0", "net1"} {
			if _, err := tx.Heartbeat(gone); !errors.Is(err, ErrNotFound) {
				t.Errorf("Heartbeat(%s) beyond the bound: %v, want ErrNotFound", gone, err)
			}
		}
		if hb, err := tx.Heartbeat(fmt.Sprintf("net%d", MaxHeartbeatNetworks+1)); err != nil || hb.Good != time.Duration(MaxHeartbeatNetworks+2)*time.Second {
			t.Errorf("newest network: %+v, %v", hb, err)
		}
		return nil
	})
}
