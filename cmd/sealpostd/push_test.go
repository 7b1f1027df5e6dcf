package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/push/webpush"
	"github.com/sealpost/sealpost/push/webpush/webpushtest"
	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/wire"
)

func TestPushWakeSurvivesKillSQLite(t *testing.T) {
	pushKillTest(t, nil)
}

func TestPushWakeSurvivesKillPostgres(t *testing.T) {
	pushKillTest(t, []string{"--postgres", pgtest.DSN(t)})
}

// pushKillTest: a wake-up is owed to bob (a Web Push subscription, mail
// waiting) and the push service hangs, so it is claimed and not
// delivered; sealpostd is killed (SIGKILL) and started again on the same
// data, the push service now answers, and bob is woken once — nothing
// owed is lost (spec/push.md §3.4). The wake-up carries only the marker,
// signed with the VAPID key the relay kept in its data directory.
func pushKillTest(t *testing.T, extra []string) {
	if testing.Short() {
		t.Skip("kills sealpostd: not with -short")
	}
	svc := webpushtest.New(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "push-ca.pem")
	if err := os.WriteFile(ca, svc.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0",
		"--relay-push-allow-private", "--relay-push-ca", ca, "--relay-push-interval", "2s"}, extra...)
	d := start(t, args...)
	vapid := relayVAPIDKey(t, d)
	svc.ExpectVAPID(vapid)

	key, err := readKey(filepath.Join(dataDir, tokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	bob, alice := relayDevice{"bob", key}, relayDevice{"alice", key}
	sub := svc.NewSubscription()
	svc.SetFault(sub, webpushtest.Fault{Hang: true})
	b := dialRelay(t, d, bob)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := b.SetPush(ctx, &wire.SetPush{Kind: wire.PushKind_PUSH_KIND_WEB_PUSH, Endpoint: sub.Endpoint, P256Dh: sub.P256dh, Auth: sub.Auth})
	if err != nil || st != wire.PushStatus_PUSH_STATUS_OK {
		t.Fatalf("SetPush: %v, %v", st, err)
	}
	b.Close()
	a := dialRelay(t, d, alice)
	for i := range 5 {
		var id [wire.MessageIDSize]byte
		id[0] = byte(i + 1)
		if _, _, err := a.Send(ctx, id, []*wire.Item{{Recipient: bob.addr(), Envelope: fmt.Appendf(nil, "mail %d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// The wake-up hangs at the push service: claimed, not delivered.
	time.Sleep(500 * time.Millisecond)
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.exited
	svc.SetFault(sub, webpushtest.Fault{})
	if n := len(svc.Messages(sub)); n != 0 {
		t.Fatalf("%d wake-ups delivered before the kill", n)
	}

	d2 := start(t, args...)
	if got := relayVAPIDKey(t, d2); string(got) != string(vapid) {
		t.Fatal("the VAPID key changed across the restart")
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(svc.Messages(sub)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no wake-up within 15 s of the restart; rejected %v", svc.Rejections())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // one interval more: no second wake-up without new mail
	msgs := svc.Messages(sub)
	if len(msgs) != 1 || string(msgs[0].Plaintext) != webpush.WakeMarker {
		t.Fatalf("%d wake-ups after the restart (first %q), want 1 marker", len(msgs), msgs[0].Plaintext)
	}
	if n := svc.Rejected(); n != 0 {
		t.Fatalf("the push service rejected %d requests: %v", n, svc.Rejections())
	}
	// The mail is all there.
	b = dialRelay(t, d2, bob)
	defer b.CloseNow()
	for got := 0; got < 5; got++ {
		select {
		case <-b.Deliveries():
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 5 envelopes delivered after the restart", got)
		}
	}
	if strings.Contains(d2.stderr.String(), sub.Endpoint) || strings.Contains(d.stderr.String(), sub.Endpoint) {
		t.Fatal("sealpostd logged a push endpoint")
	}
}

// relayVAPIDKey reads the relay's VAPID key from /.well-known/sealpost-relay.
func relayVAPIDKey(t *testing.T, d *daemon) []byte {
	t.Helper()
	_, body := get(t, d.client(), "https://"+d.addr+relay.InfoPath)
	var info relay.Info
	if err := json.Unmarshal(body, &info); err != nil || info.Push == nil {
		t.Fatalf("relay info %s: %v", body, err)
	}
	k, err := base64.RawURLEncoding.DecodeString(info.Push.VAPIDPublicKey)
	if err != nil || len(k) != 65 {
		t.Fatalf("VAPID key %q: %v", info.Push.VAPIDPublicKey, err)
	}
	return k
}
