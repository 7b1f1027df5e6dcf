package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
	"github.com/sealpost/sealpost/tlsconfig"
)

// revocationDeadline is how soon every relay node must act on a
// revocation (issue 9; spec/relay.md §2.4).
const revocationDeadline = 5 * time.Second

// ksAccount is an account on a running sealpostd's key server, driven
// through its HTTP API.
type ksAccount struct {
	t       *testing.T
	d       *daemon
	handle  string
	account *keys.AccountPrivateKey
	devices map[keys.DeviceID]*keys.DevicePrivateKeys
}

// call sends a JSON request and decodes a 2xx answer into out.
func (a *ksAccount) call(method, path, bearer string, body, out any) {
	a.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		a.t.Fatal(err)
	}
	req, err := http.NewRequest(method, "https://"+a.d.addr+path, bytes.NewReader(b))
	if err != nil {
		a.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := a.d.client().Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		a.t.Fatalf("%s %s: %s %s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatal(err)
		}
	}
}

// signed is a fresh challenge for audience answered by device id.
func (a *ksAccount) signed(id keys.DeviceID, audience string) ([]byte, []byte) {
	a.t.Helper()
	var c api.ChallengeResponse
	a.call("POST", "/v1/challenges", "", api.ChallengeRequest{Audience: audience}, &c)
	sig, err := token.SignChallenge(a.devices[id], a.handle, id, c.Challenge, DefaultName)
	if err != nil {
		a.t.Fatal(err)
	}
	return c.Challenge, sig
}

// device certifies device id and registers it (id 1) or adds it.
func (a *ksAccount) device(id keys.DeviceID) {
	a.t.Helper()
	if id == 1 {
		a.call("POST", "/v1/accounts", "", a.registerRequest(id), nil)
		return
	}
	cert, ch, sig := a.certified(id)
	a.call("POST", "/v1/accounts/"+a.handle+"/devices", "", api.AddDeviceRequest{
		Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: sig,
	}, nil)
}

// certified makes device keys for id, certifies them and signs a fresh
// challenge with them.
func (a *ksAccount) certified(id keys.DeviceID) (cert *keys.DeviceCertificate, challenge, sig []byte) {
	a.t.Helper()
	dev, err := keys.GenerateDeviceKeys(rand.Reader)
	if err != nil {
		a.t.Fatal(err)
	}
	a.devices[id] = dev
	cert, err = a.account.CertifyDevice(a.handle, id, dev.Public(), time.Now())
	if err != nil {
		a.t.Fatal(err)
	}
	challenge, sig = a.signed(id, "")
	return cert, challenge, sig
}

// token gets a token for device id and audience.
func (a *ksAccount) token(id keys.DeviceID, audience string) string {
	a.t.Helper()
	ch, sig := a.signed(id, audience)
	var r api.TokenResponse
	a.call("POST", "/v1/tokens", "", api.TokenRequest{
		Handle: a.handle, Device: uint32(id), Audience: audience, Challenge: ch, ChallengeSignature: sig,
	}, &r)
	return r.Token
}

// revoke revokes device id from device by.
func (a *ksAccount) revoke(id, by keys.DeviceID) {
	a.t.Helper()
	tok := a.token(by, api.AudiencePrefix+DefaultName)
	rev, err := a.account.RevokeDevice(a.handle, id, time.Now())
	if err != nil {
		a.t.Fatal(err)
	}
	a.call("POST", fmt.Sprintf("/v1/accounts/%s/devices/%d/revoke", a.handle, id), tok, api.RevokeDeviceRequest{Revocation: rev.Marshal()}, nil)
}

func newKSAccount(t *testing.T, d *daemon, handle string) *ksAccount {
	t.Helper()
	ak, err := keys.GenerateAccountKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &ksAccount{t: t, d: d, handle: handle, account: ak, devices: map[keys.DeviceID]*keys.DevicePrivateKeys{}}
	a.device(1)
	return a
}

// dialWith connects to the relay of d with a token; the error is the
// relay's refusal, if any.
func dialWith(d *daemon, tok string) (*relayclient.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := relayclient.Dial(ctx, "wss://"+d.addr+relayclient.Path, tlsconfig.ClientConfig(d.fp), tok)
	return c, err
}

// revocationTest registers alice with two devices on ks, connects device
// 2 to every node, revokes it from device 1, and checks that every node
// closes its connection with device_revoked and refuses its token within
// revocationDeadline, while device 1 stays connected.
func revocationTest(t *testing.T, ks *daemon, nodes ...*daemon) {
	alice := newKSAccount(t, ks, "alice")
	alice.device(2)
	aud := relayAudiencePrefix + DefaultName
	tok1, tok2 := alice.token(1, aud), alice.token(2, aud)
	var conns2, conns1 []*relayclient.Conn
	for i, n := range nodes {
		c2, err := dialWith(n, tok2)
		if err != nil {
			t.Fatalf("node %d: device 2 before revocation: %v", i, err)
		}
		c1, err := dialWith(n, tok1)
		if err != nil {
			t.Fatalf("node %d: device 1: %v", i, err)
		}
		conns2, conns1 = append(conns2, c2), append(conns1, c1)
	}
	start := time.Now()
	alice.revoke(2, 1)
	for i, c := range conns2 {
		select {
		case <-c.Done():
		case <-time.After(revocationDeadline - time.Since(start)):
			t.Fatalf("node %d: device 2 still connected %v after its revocation", i, time.Since(start))
		}
		var re *relayclient.RemoteError
		if !errors.As(c.Err(), &re) || re.Code != wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED {
			t.Fatalf("node %d: connection ended with %v, want device_revoked", i, c.Err())
		}
		_, err := dialWith(nodes[i], tok2)
		if !errors.As(err, &re) || re.Code != wire.ErrorCode_ERROR_CODE_DEVICE_REVOKED {
			t.Fatalf("node %d: old token after revocation: %v, want device_revoked", i, err)
		}
	}
	t.Logf("%d node(s) closed and refused the revoked device within %v", len(nodes), time.Since(start))
	if d := time.Since(start); d > revocationDeadline {
		t.Fatalf("took %v", d)
	}
	for i, c := range conns1 {
		select {
		case <-c.Done():
			t.Fatalf("node %d: device 1's connection ended: %v", i, c.Err())
		default:
		}
		c.Close()
	}
}

// TestDaemonRevocationSQLite: one sealpostd on SQLite; its relay reads the
// key server's revocation feed in process.
func TestDaemonRevocationSQLite(t *testing.T) {
	d := start(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0")
	revocationTest(t, d, d)
	d.stop(t)
}

// TestDaemonRevocationPostgres: two relay nodes on one PostgreSQL
// database, as multi-node deployments run: node A with the key server,
// node B a relay alone reading A's feed over HTTPS with A's certificate
// pinned.
func TestDaemonRevocationPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	dirA := filepath.Join(t.TempDir(), "a")
	a := start(t, "--data-dir", dirA, "--listen", "127.0.0.1:0", "--postgres", dsn)
	b := start(t, "--data-dir", filepath.Join(t.TempDir(), "b"), "--listen", "127.0.0.1:0", "--postgres", dsn,
		"--services", "relay", "--relay-token-key", filepath.Join(dirA, tokenKeyFile),
		"--relay-keyserver-url", "https://"+a.addr, "--relay-keyserver-fingerprint", a.fp.String(),
		"--relay-revocation-poll", "500ms")
	revocationTest(t, a, a, b)
	b.stop(t)
	a.stop(t)
}
