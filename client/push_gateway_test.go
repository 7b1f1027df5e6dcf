package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/apnstest"
	"github.com/sealpost/sealpost/internal/fcmtest"
	"github.com/sealpost/sealpost/push/gateway"
	"github.com/sealpost/sealpost/push/gateway/gwclient"
	"github.com/sealpost/sealpost/relay"
)

// TestPushGatewayWakeThenSync (issue 18, end to end through a push
// gateway): the relay wakes bob (iOS, APNs) and carol (Android, FCM)
// through a real push gateway over TLS 1.3, which speaks to the APNs and
// FCM stand-ins (each checks every header, JWT claim and body field
// against the providers' documentation); alice sends 50 messages to each
// while they are away; each provider gets between 1 and a handful of
// content-free pushes; Sync then gets all 50 once.
func TestPushGatewayWakeThenSync(t *testing.T) {
	const topic, team, keyID, project = "org.example.chat", "TEAM123456", "KEY1234567", "sealpost-test"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	apns := apnstest.New(t, apnstest.Config{TeamID: team, KeyID: keyID, Topic: topic, Key: key})
	fcm := fcmtest.New(t, fcmtest.Config{ProjectID: project, ClientEmail: "push@" + project + ".iam.gserviceaccount.com"})
	pool := apns.CertPool()
	pool.AppendCertsFromPEM(fcm.CertPEM())
	pc := gateway.ProviderClient(pool)
	a, err := gateway.NewAPNs(gateway.APNsConfig{Key: apns.KeyP8(), KeyID: keyID, TeamID: team, Topic: topic, URL: apns.URL, SandboxURL: apns.URL, Client: pc})
	if err != nil {
		t.Fatal(err)
	}
	f, err := gateway.NewFCM(gateway.FCMConfig{Credentials: fcm.Credentials(), URL: fcm.URL, Client: pc})
	if err != nil {
		t.Fatal(err)
	}
	var rk [32]byte
	rand.Read(rk[:])
	relayKey := base64.RawURLEncoding.EncodeToString(rk[:])
	line, err := gateway.RelayKeyLine("relay", relayKey)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := gateway.ParseRelayKeys(strings.NewReader(line + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{RelayKeys: keys, APNs: a, FCM: f})
	if err != nil {
		t.Fatal(err)
	}
	gsrv := httptest.NewUnstartedServer(gw)
	gsrv.EnableHTTP2 = true
	gsrv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	gsrv.StartTLS()
	t.Cleanup(gsrv.Close)
	gc, err := gwclient.New(gwclient.Config{URL: gsrv.URL, Key: relayKey, Client: gsrv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	s := startServersWith(t, engineSQLite, func(c *relay.Config) {
		c.Push = &relay.PushConfig{
			Gateways: []string{gsrv.URL},
			Gateway:  relay.GatewayWaker(map[string]*gwclient.Client{gsrv.URL: gc}),
			Interval: time.Second,
		}
	})
	alice := s.newUser("alice")
	ctx := ctxT(t)
	type device struct {
		handle string
		token  gateway.Token
		pushes func() int
	}
	apnsDev := strings.Repeat("ab", 32)
	devs := []device{
		{"bob", gateway.Token{Platform: gateway.PlatformAPNs, DeviceToken: apnsDev}, func() int { return len(apns.Accepted()) }},
		{"carol", gateway.Token{Platform: gateway.PlatformFCM, DeviceToken: "fcm-registration-token-carol:APA91b"}, func() int { return len(fcm.Accepted()) }},
	}
	dirs := map[string]string{}
	for _, d := range devs {
		c, dir := s.newUserDir(d.handle)
		dirs[d.handle] = dir
		tok, err := d.token.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetPush(ctx, &PushTarget{Kind: PushGateway, Endpoint: gsrv.URL, Token: tok}); err != nil {
			t.Fatalf("%s SetPush: %v", d.handle, err)
		}
		c.Close()
	}
	const n = 50
	start := time.Now()
	for i := range n {
		for _, d := range devs {
			send(t, alice, d.handle, fmt.Sprint("while away ", i))
		}
	}
	for _, d := range devs {
		waitFor(t, func() bool { return d.pushes() > 0 })
	}
	time.Sleep(1500 * time.Millisecond)
	// At most one wake-up per interval (1 s) while mail waits: the sends
	// take longer under the race detector.
	most := int(time.Since(start)/time.Second) + 2
	for _, d := range devs {
		if got := d.pushes(); got < 1 || got > most {
			t.Errorf("%s: %d pushes for %d messages in %v, want 1 to %d", d.handle, got, n, time.Since(start).Round(time.Millisecond), most)
		}
	}
	for _, p := range apns.Accepted() {
		if p.DeviceToken != apnsDev || string(p.Payload) != `{"aps":{"alert":{"loc-key":"SEALPOST_WAKE"},"mutable-content":1}}` {
			t.Errorf("APNs push to %s: %s", p.DeviceToken, p.Payload)
		}
	}
	for _, m := range fcm.Accepted() {
		if len(m.Data) != 1 || m.Data["sealpost"] != "wake" {
			t.Errorf("FCM message data %v", m.Data)
		}
	}
	if r := append(apns.Rejected(), fcm.Rejected()...); len(r) != 0 {
		t.Fatalf("the stand-ins rejected %q", r)
	}
	for _, d := range devs {
		c := s.open(dirs[d.handle])
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		got, err := c.Sync(sctx)
		cancel()
		if err != nil || got != n {
			t.Fatalf("%s Sync = %d, %v; want %d", d.handle, got, err, n)
		}
		seen := map[string]bool{}
		for range n {
			m := recv(t, c)
			if seen[string(m.Plaintext)] {
				t.Fatalf("%s: %q twice", d.handle, m.Plaintext)
			}
			seen[string(m.Plaintext)] = true
		}
		noMessage(t, c, 200*time.Millisecond)
	}
}
