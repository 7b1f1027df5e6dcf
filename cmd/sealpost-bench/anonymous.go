package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/internal/keyfile"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	kssqlite "github.com/sealpost/sealpost/keyserver/store/sqlite"
	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/tokenkeys"
)

// --anonymous and --compare-anonymous (with --self): the relay runs as a
// child process, as for --ephemeral, with a key server beside it as
// sealpostd runs them (the relay verifies send tokens with the key
// server's issuer keys, in process). Before the timed part the tool
// registers one account and has the key server issue, through POST
// /v1/send-tokens, one send token per Send of the load
// (spec/keyserver.md §5.10); the per-account daily limit is raised for
// that. Then --devices authenticated connections receive and as many
// anonymous connections send, each Send paid with a token
// (spec/relay.md §15). The report adds the relay process's CPU time per
// envelope; --compare-anonymous first runs the same load on
// authenticated connections against the same relay, and prints both.

// tokenKeyFile is the key server's token signing key in the child's
// directory, PEM PKCS #8 as sealpostd keeps it.
const tokenKeyFile = "token-key.pem"

// benchSendTokensPerDay is the child key server's per-account limit:
// no load the tool runs reaches it.
const benchSendTokensPerDay = 1 << 30

// loadMode is how load runs: tokens for anonymous senders (nil:
// authenticated), pid of the relay process to measure (0: none).
type loadMode struct {
	tokens [][]byte
	pid    int
	push   *pushBench // --push: one more envelope per Send, to an offline device (push.go)
}

// writeTokenKey writes key to dir/token-key.pem, readable by the owner
// only, for the child's key server.
func writeTokenKey(dir string, key ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, tokenKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// startKeyServer starts the child's key server on a SQLite store in
// c.Dir and sets rcfg.SendTokens to a verifier of its issuer keys, read
// once before it returns and kept current after. It returns the key
// server's handler and a function that stops it.
func (c *childSpec) startKeyServer(rcfg *relay.Config, log *slog.Logger) (http.Handler, func(), error) {
	tokenKey, err := keyfile.ReadEd25519(filepath.Join(c.Dir, tokenKeyFile))
	if err != nil {
		return nil, nil, err
	}
	_, logKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	st, err := kssqlite.Open(filepath.Join(c.Dir, "keyserver.db"))
	if err != nil {
		return nil, nil, err
	}
	ks, err := keyserver.New(keyserver.Config{
		Name: c.Name, Store: st, TokenKey: tokenKey, LogKey: logKey,
		RelayAudiences: []string{"relay:" + c.Name},
		Limits:         keyserver.Limits{SendTokensPerEpoch: benchSendTokensPerDay},
		Logger:         log,
	})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	v, err := tokenkeys.New(tokenkeys.Config{Source: ks, Issuer: c.Name, Logger: log})
	if err == nil {
		err = v.Refresh(context.Background())
	}
	if err != nil {
		ks.Close()
		st.Close()
		return nil, nil, err
	}
	rcfg.SendTokens = v
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	return ks.Handler(), func() {
		cancel()
		<-done
		ks.Close()
		st.Close()
	}, nil
}

// ksCaller calls the child's key server over HTTPS.
type ksCaller struct {
	base string
	hc   *http.Client
}

func newKSCaller(tg *target) *ksCaller {
	tc := tg.tls.Clone()
	tc.NextProtos = nil
	return &ksCaller{
		base: "https://" + hostOf(tg.url),
		hc:   &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 4}},
	}
}

// hostOf returns the host:port of a wss:// URL.
func hostOf(u string) string {
	u = strings.TrimPrefix(u, "wss://")
	host, _, _ := strings.Cut(u, "/")
	return host
}

// call sends body (JSON, or raw bytes with contentType) and returns a
// 2xx answer's body.
func (k *ksCaller) call(ctx context.Context, method, path, bearer, contentType string, body []byte) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, k.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := k.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, nil, fmt.Errorf("%s %s: %s %.200s", method, path, resp.Status, out)
	}
	return out, resp.Header, nil
}

func (k *ksCaller) json(ctx context.Context, path, bearer string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	body, _, err := k.call(ctx, http.MethodPost, path, bearer, "application/json", b)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(body, out)
}

// signedChallenge gets a challenge for audience and signs it as device 1
// of handle.
func (k *ksCaller) signedChallenge(ctx context.Context, dev *keys.DevicePrivateKeys, handle, audience, server string) ([]byte, []byte, error) {
	var c api.ChallengeResponse
	if err := k.json(ctx, "/v1/challenges", "", api.ChallengeRequest{Audience: audience}, &c); err != nil {
		return nil, nil, err
	}
	sig, err := token.SignChallenge(dev, handle, 1, c.Challenge, server)
	return c.Challenge, sig, err
}

// issueTokens registers an account on the key server of tg and has it
// issue n send tokens for the current epoch, in batches of
// sendtoken.MaxBatchSize, two batches at a time.
func issueTokens(ctx context.Context, tg *target, name, runID string, n int) ([][]byte, error) {
	k := newKSCaller(tg)
	handle := "anon" + runID
	acct, err := keys.GenerateAccountKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	dev, err := keys.GenerateDeviceKeys(rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := acct.CertifyDevice(handle, 1, dev.Public(), time.Now())
	if err != nil {
		return nil, err
	}
	ch, sig, err := k.signedChallenge(ctx, dev, handle, "", name)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	pub := acct.Public()
	if err := k.json(ctx, "/v1/accounts", "", api.RegisterRequest{Handle: handle, AccountKey: pub[:], Certificate: cert.Marshal(), Challenge: ch, ChallengeSignature: sig}, nil); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	aud := api.AudiencePrefix + name
	if ch, sig, err = k.signedChallenge(ctx, dev, handle, aud, name); err != nil {
		return nil, err
	}
	var tr api.TokenResponse
	if err := k.json(ctx, "/v1/tokens", "", api.TokenRequest{Handle: handle, Device: 1, Audience: aud, Challenge: ch, ChallengeSignature: sig}, &tr); err != nil {
		return nil, fmt.Errorf("key server token: %w", err)
	}
	body, _, err := k.call(ctx, http.MethodGet, api.SendTokenKeysPath, "", "", nil)
	if err != nil {
		return nil, err
	}
	issuer, published, err := tokenkeys.ParseDocument(body)
	if err != nil {
		return nil, err
	}
	epoch := sendtoken.EpochAt(time.Now())
	var key *sendtoken.PublicKey
	for _, ek := range published {
		if ek.Epoch == epoch {
			key = ek.Key
		}
	}
	if key == nil || issuer != name {
		return nil, fmt.Errorf("keys document: no key of epoch %d of issuer %q", epoch, name)
	}
	out := make([][]byte, n)
	batches := make(chan int)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for first := range batches {
				m := min(sendtoken.MaxBatchSize, n-first)
				reqs, pending, err := sendtoken.PrepareBatch(rand.Reader, key, sendtoken.Challenge{Issuer: issuer, Epoch: epoch}, m)
				if err == nil {
					var b []byte
					if b, err = sendtoken.MarshalBatchRequest(reqs); err == nil {
						var h http.Header
						if b, h, err = k.call(ctx, http.MethodPost, api.SendTokensPath, tr.Token, api.OctetStream, b); err == nil && h.Get(api.HeaderSendTokenEpoch) != strconv.FormatUint(epoch, 10) {
							err = errors.New("issued for another epoch (the epoch changed: run again)")
						}
					}
					var resps []sendtoken.Response
					if err == nil {
						resps, err = sendtoken.ParseBatchResponse(b, m)
					}
					var toks []sendtoken.Token
					if err == nil {
						toks, err = pending.Finalize(resps)
					}
					for i := range toks {
						out[first+i] = toks[i].Marshal()
					}
				}
				if err != nil {
					errc <- fmt.Errorf("issuing send tokens: %w", err)
					for range batches {
					}
					return
				}
			}
		})
	}
	for first := 0; first < n; first += sendtoken.MaxBatchSize {
		batches <- first
	}
	close(batches)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	return out, nil
}

// runAnonymous runs --anonymous (and, with --compare-anonymous, the
// authenticated load first) against the relay child r.
func runAnonymous(ctx context.Context, o *options, r *childRelay, stderr io.Writer) (*report, error) {
	newReport := func() *report {
		return &report{Devices: o.devices, Envelopes: o.envelopes, Size: o.size, Batch: o.batch, Shared: o.shared, InFlight: o.inflight, Rate: o.rate,
			Self: o.self, Errors: map[string]int64{}, Statuses: map[string]int64{}}
	}
	runID := func() string {
		var b [4]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	var authRep *report
	if o.compare {
		authRep = newReport()
		if err := load(ctx, o, &r.target, runID(), loadMode{pid: r.pid()}, authRep, stderr); err != nil {
			return nil, err
		}
	}
	rep := newReport()
	rep.Authenticated = authRep
	n := (o.envelopes + o.batch - 1) / o.batch
	fmt.Fprintf(stderr, "sealpost-bench: issuing %d send tokens\n", n)
	t0 := time.Now()
	id := runID()
	toks, err := issueTokens(ctx, &r.target, o.name, id, n)
	if err != nil {
		return nil, err
	}
	rep.Tokens, rep.IssueSeconds = n, time.Since(t0).Seconds()
	if err := load(ctx, o, &r.target, id, loadMode{tokens: toks, pid: r.pid()}, rep, stderr); err != nil {
		return nil, err
	}
	return rep, nil
}
