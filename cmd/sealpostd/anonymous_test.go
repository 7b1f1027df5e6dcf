package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/tokenkeys"
	"github.com/sealpost/sealpost/relay/wire"
	"github.com/sealpost/sealpost/tlsconfig"
)

// sendTokens gets n send tokens for a's device 1 from the key server of
// ks, as a client does (spec/keyserver.md §5.10, spec/anonymous.md §5):
// the keys document, a blinded batch for the current epoch's key, the
// blind signatures, finalized.
func sendTokens(t *testing.T, ks *daemon, a *ksAccount, n int) [][]byte {
	t.Helper()
	resp, body := get(t, ks.client(), "https://"+ks.addr+api.SendTokenKeysPath)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("keys document: %s %s", resp.Status, body)
	}
	issuer, keys, err := tokenkeys.ParseDocument(body)
	if err != nil || issuer != DefaultName {
		t.Fatalf("keys document: issuer %q, %v", issuer, err)
	}
	epoch := sendtoken.EpochAt(time.Now())
	var pub *sendtoken.PublicKey
	for _, k := range keys {
		if k.Epoch == epoch {
			pub = k.Key
		}
	}
	if pub == nil {
		t.Fatalf("keys document has no key for epoch %d", epoch)
	}
	reqs, pending, err := sendtoken.PrepareBatch(rand.Reader, pub, sendtoken.Challenge{Issuer: issuer, Epoch: epoch}, n)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := sendtoken.MarshalBatchRequest(reqs)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "https://"+ks.addr+api.SendTokensPath, bytes.NewReader(batch))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", api.OctetStream)
	req.Header.Set("Authorization", "Bearer "+a.token(1, api.AudiencePrefix+DefaultName))
	hr, err := ks.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	out, _ := io.ReadAll(hr.Body)
	if hr.StatusCode != http.StatusOK || hr.Header.Get(api.HeaderSendTokenEpoch) != strconv.FormatUint(epoch, 10) {
		t.Fatalf("issuance: %s %s", hr.Status, out)
	}
	resps, err := sendtoken.ParseBatchResponse(out, n)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := pending.Finalize(resps)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]byte, n)
	for i := range toks {
		res[i] = toks[i].Marshal()
	}
	return res
}

// dialAnonymous opens an anonymous connection to d's relay.
func dialAnonymous(d *daemon) (*relayclient.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := relayclient.DialAnonymous(ctx, "wss://"+d.addr+relayclient.Path, tlsconfig.ClientConfig(d.fp))
	return c, err
}

// sendAnonymous sends envelope to bob with tok on a fresh anonymous
// connection to d, with message id id.
func sendAnonymous(t *testing.T, d *daemon, id byte, tok []byte, to relayDevice, envelope string) *wire.SendResult {
	t.Helper()
	c, err := dialAnonymous(d)
	if err != nil {
		t.Fatalf("anonymous dial: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.SendAnonymous(ctx, [16]byte{id}, tok, []*wire.Item{{Recipient: to.addr(), Envelope: []byte(envelope)}})
	if err != nil {
		t.Fatalf("anonymous send: %v", err)
	}
	return r
}

// expectDelivery waits for one delivery of envelope on c and acks it.
func expectDelivery(t *testing.T, c *relayclient.Conn, envelope string) {
	t.Helper()
	select {
	case dl := <-c.Deliveries():
		if string(dl.Envelope) != envelope {
			t.Fatalf("delivered %q, want %q", dl.Envelope, envelope)
		}
		if err := c.Ack(context.Background(), dl.Id); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%q not delivered", envelope)
	}
}

// expectNoDelivery checks nothing is delivered on c for a while.
func expectNoDelivery(t *testing.T, c *relayclient.Conn) {
	t.Helper()
	select {
	case dl := <-c.Deliveries():
		t.Fatalf("delivered %q", dl.Envelope)
	case <-time.After(time.Second):
	}
}

// anonymousTest: alice gets send tokens from ks and sends to bob, who is
// connected to recv, on an anonymous connection to each relay node of
// send in turn, one token per send; a retry of the first token on every
// node (the spent set is shared by nodes sharing a store) is answered
// duplicate with the first answer and stores nothing.
// ksDir is the data directory of ks.
func anonymousTest(t *testing.T, ksDir string, ks, recv *daemon, send ...*daemon) {
	key, err := readKey(filepath.Join(ksDir, tokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	alice := newKSAccount(t, ks, "alice")
	bob := relayDevice{"bob", key}
	cb := dialRelay(t, recv, bob)
	defer cb.Close()
	toks := sendTokens(t, ks, alice, len(send))
	for i, n := range send {
		env := "sealed " + strconv.Itoa(i)
		r := sendAnonymous(t, n, byte(i+1), toks[i], bob, env)
		if r.Duplicate || len(r.Statuses) != 1 || r.Statuses[0] != wire.Status_STATUS_STORED {
			t.Fatalf("node %d: anonymous send: %v duplicate=%v", i, r.Statuses, r.Duplicate)
		}
		expectDelivery(t, cb, env)
	}
	for i, n := range send {
		// Another message id and envelope: the token, not the id, is the
		// dedup key.
		r := sendAnonymous(t, n, 100+byte(i), toks[0], bob, "again")
		if !r.Duplicate || len(r.Statuses) != 1 || r.Statuses[0] != wire.Status_STATUS_STORED {
			t.Fatalf("node %d: spent token: %v duplicate=%v, want the first answer as a duplicate", i, r.Statuses, r.Duplicate)
		}
	}
	expectNoDelivery(t, cb)
	// A token with a bad signature: refused, connection closed.
	bad := bytes.Clone(toks[0])
	bad[len(bad)-1] ^= 1
	c, err := dialAnonymous(send[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.SendAnonymous(ctx, [16]byte{200}, bad, []*wire.Item{{Recipient: bob.addr(), Envelope: []byte("forged")}})
	var re *relayclient.RemoteError
	if !errors.As(err, &re) || re.Code != wire.ErrorCode_ERROR_CODE_SEND_TOKEN_INVALID {
		t.Fatalf("forged token: %v, want send_token_invalid", err)
	}
	expectNoDelivery(t, cb)
}

// TestDaemonAnonymousSQLite: one sealpostd; its relay verifies send tokens
// with the key server's keys in process. A relay alone with
// --relay-anonymous=false refuses anonymous connections.
func TestDaemonAnonymousSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := start(t, "--data-dir", dir, "--listen", "127.0.0.1:0")
	anonymousTest(t, dir, d, d, d)

	off := start(t, "--data-dir", filepath.Join(t.TempDir(), "off"), "--listen", "127.0.0.1:0",
		"--services", "relay", "--relay-token-key", filepath.Join(dir, tokenKeyFile),
		"--relay-keyserver-url", "https://"+d.addr, "--relay-keyserver-fingerprint", d.fp.String(),
		"--relay-anonymous=false")
	_, err := dialAnonymous(off)
	var re *relayclient.RemoteError
	if !errors.As(err, &re) || re.Code != wire.ErrorCode_ERROR_CODE_ANONYMOUS_DISABLED {
		t.Fatalf("--relay-anonymous=false: %v, want anonymous_disabled", err)
	}
	off.stop(t)

	// A relay alone whose --name is not the key server's: the keys
	// document names another issuer, so it holds no key and a good token
	// is stale.
	other := start(t, "--data-dir", filepath.Join(t.TempDir(), "other"), "--listen", "127.0.0.1:0", "--name", "other.example",
		"--services", "relay", "--relay-token-key", filepath.Join(dir, tokenKeyFile),
		"--relay-keyserver-url", "https://"+d.addr, "--relay-keyserver-fingerprint", d.fp.String())
	alice := newKSAccount(t, d, "alice2")
	tok := sendTokens(t, d, alice, 1)[0]
	c, err := dialAnonymous(other)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.SendAnonymous(ctx, [16]byte{1}, tok, []*wire.Item{{Recipient: wire.FormatAddress("bob", 1), Envelope: []byte("x")}})
	if !errors.As(err, &re) || re.Code != wire.ErrorCode_ERROR_CODE_SEND_TOKEN_STALE {
		t.Fatalf("relay of another issuer: %v, want send_token_stale", err)
	}
	other.stop(t)
	for _, tc := range []struct {
		d    *daemon
		want []string
	}{
		{d, []string{"relay_send_token_keys=in-process"}},
		{off, []string{"relay_send_token_keys=off", "refuses anonymous connections"}},
		{other, []string{"relay_send_token_keys=https://" + d.addr, "keys of another issuer"}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.d.stderr.String(), w) {
				t.Errorf("log lacks %q:\n%s", w, tc.d.stderr.String())
			}
		}
	}
	d.stop(t)
}

// TestDaemonAnonymousPostgres: node A runs both services, node B is a
// relay alone reading A's send-token keys over HTTPS with A's certificate
// pinned; both share one PostgreSQL database, so a token spent at one is
// a duplicate at the other, and bob, connected to A, gets what B stored.
func TestDaemonAnonymousPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	dirA := filepath.Join(t.TempDir(), "a")
	a := start(t, "--data-dir", dirA, "--listen", "127.0.0.1:0", "--postgres", dsn)
	b := start(t, "--data-dir", filepath.Join(t.TempDir(), "b"), "--listen", "127.0.0.1:0", "--postgres", dsn,
		"--services", "relay", "--relay-token-key", filepath.Join(dirA, tokenKeyFile),
		"--relay-keyserver-url", "https://"+a.addr, "--relay-keyserver-fingerprint", a.fp.String())
	anonymousTest(t, dirA, a, a, b, a)
	b.stop(t)
	a.stop(t)
}
