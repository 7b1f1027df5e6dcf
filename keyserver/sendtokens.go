package keyserver

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sealpost/sealpost/crypto/token/sendtoken"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/store"
)

// Send-token issuance (spec/keyserver.md §5.10, spec/anonymous.md §4.3,
// §5): the signing key of each day-epoch, generated ahead and shared by
// every node through the store; the public keys document; the issuance
// endpoint with its per-account limit.

// sendTokenKeyInterval is how often the server makes sure the keys of the
// current and next epoch exist, the first time one interval after New
// (requests check too: the first one, and the first after an epoch
// change if the loop has not run yet, make the keys). Generating the two
// RSA keys takes about 0.15 s of CPU, which a short-lived server (a test,
// `sealpostd invite`) need not spend.
const sendTokenKeyInterval = time.Minute

// maxKeyTries bounds the key generations for one epoch whose truncated key
// id must differ from its neighbours' (each try collides with
// probability at most 2/256).
const maxKeyTries = 32

// modulusOffset is where the modulus n starts in a public key's encoding
// (spec/anonymous.md §3.1).
const modulusOffset = 85

// issuerKeys caches the signing keys of the epoch now and its neighbours.
type issuerKeys struct {
	mu  sync.Mutex
	set *epochKeys // nil until first loaded
}

func newIssuerKeys() *issuerKeys { return &issuerKeys{} }

// epochKeys are the keys around one current epoch: read-only once built.
type epochKeys struct {
	current uint64
	// keys holds the epochs current−1 (when the store still has it),
	// current and current+1.
	keys map[uint64]*sendtoken.PrivateKey
	// doc is the body of GET /v1/send-tokens/keys.
	doc []byte
}

// runSendTokenKeys keeps the keys of the current and next epoch in the
// store until Close.
func (s *Server) runSendTokenKeys() {
	t := time.NewTicker(sendTokenKeyInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, err := s.sendTokenKeys(context.Background()); err != nil {
				s.log.LogAttrs(context.Background(), slog.LevelError, "keyserver: send token keys", slog.String("error", err.Error()))
			}
		}
	}
}

// sendTokenKeys returns the keys of the epoch now, making and storing the
// current and next epoch's keys if the store has none (spec/anonymous.md
// §4.3) and deleting the keys and counts no longer needed.
func (s *Server) sendTokenKeys(ctx context.Context) (*epochKeys, error) {
	now := s.now()
	e := sendtoken.EpochAt(now)
	s.issuer.mu.Lock()
	defer s.issuer.mu.Unlock()
	if set := s.issuer.set; set != nil && set.current == e {
		return set, nil
	}
	first := e
	if e > 0 {
		first = e - 1
	}
	stored, err := s.store.SendTokenKeys(ctx, first, e+1)
	if err != nil {
		return nil, fmt.Errorf("read send token keys: %w", err)
	}
	have := map[uint64]*sendtoken.PrivateKey{}
	for epoch, der := range stored {
		k, err := sendtoken.ParsePrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("send token key of epoch %d: %w", epoch, err)
		}
		have[epoch] = k
	}
	// In epoch order, so that each new key is checked against the stored
	// key of the epoch before it.
	for _, epoch := range []uint64{e, e + 1} {
		if err := s.makeSendTokenKey(ctx, have, epoch); err != nil {
			return nil, err
		}
	}
	set := &epochKeys{current: e, keys: have}
	if set.doc, err = s.sendTokenKeysDoc(set); err != nil {
		return nil, err
	}
	// spec/anonymous.md §4.3: the previous epoch's public key is still
	// published (its tokens are accepted), older keys are not needed; the
	// counts of past epochs are not either.
	if err := s.store.DeleteSendTokenState(ctx, first, e); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "keyserver: delete old send token state", slog.String("error", err.Error()))
	}
	s.issuer.set = set
	return set, nil
}

// makeSendTokenKey makes the key of epoch unless have holds one, and adds
// the stored one (another node's, if it stored first) to have. A key
// whose truncated key id is that of a neighbouring epoch's key is
// discarded (spec/anonymous.md §4.3).
func (s *Server) makeSendTokenKey(ctx context.Context, have map[uint64]*sendtoken.PrivateKey, epoch uint64) error {
	if _, ok := have[epoch]; ok {
		return nil
	}
	clashes := func(k *sendtoken.PrivateKey) bool {
		id := k.Public().ID()
		for _, n := range []uint64{epoch - 1, epoch + 1} {
			if nk, ok := have[n]; ok && n != epoch {
				nid := nk.Public().ID()
				if nid[sendtoken.KeyIDSize-1] == id[sendtoken.KeyIDSize-1] {
					return true
				}
			}
		}
		return false
	}
	for range maxKeyTries {
		k, err := sendtoken.GenerateKey(s.rand)
		if err != nil {
			return fmt.Errorf("generate send token key: %w", err)
		}
		if clashes(k) {
			continue
		}
		der, err := k.MarshalPrivateKey()
		if err != nil {
			return fmt.Errorf("encode send token key: %w", err)
		}
		storedDER, err := s.store.PutSendTokenKey(ctx, epoch, der)
		clear(der)
		if err != nil {
			return fmt.Errorf("store send token key: %w", err)
		}
		stored, err := sendtoken.ParsePrivateKey(storedDER)
		if err != nil {
			return fmt.Errorf("send token key of epoch %d: %w", epoch, err)
		}
		have[epoch] = stored
		return nil
	}
	return fmt.Errorf("send token key of epoch %d: %d keys collided with a neighbour's truncated key id", epoch, maxKeyTries)
}

// sendTokenKeysDoc builds the keys document (spec/keyserver.md §5.10).
func (s *Server) sendTokenKeysDoc(set *epochKeys) ([]byte, error) {
	doc := api.SendTokenKeys{Issuer: s.name, TokenType: sendtoken.TokenType, Keys: []api.SendTokenKey{}}
	for _, epoch := range []uint64{set.current - 1, set.current, set.current + 1} {
		k, ok := set.keys[epoch]
		if !ok || (epoch == set.current-1 && set.current == 0) {
			continue
		}
		pub := k.Public()
		id := pub.ID()
		doc.Keys = append(doc.Keys, api.SendTokenKey{Epoch: epoch, PublicKey: pub.Bytes(), KeyID: hex.EncodeToString(id[:])})
	}
	return json.Marshal(doc)
}

// SendTokenPublicKeys returns the issuer name and the public keys the
// keys document publishes (spec/keyserver.md §5.10), by epoch: what a
// relay in the same process verifies send tokens with (relay/tokenkeys).
// Like the document it makes the current and next epoch's keys if the
// store has none.
func (s *Server) SendTokenPublicKeys(ctx context.Context) (string, []sendtoken.EpochKey, error) {
	set, err := s.sendTokenKeys(ctx)
	if err != nil {
		return "", nil, err
	}
	var out []sendtoken.EpochKey
	for _, epoch := range []uint64{set.current - 1, set.current, set.current + 1} {
		k, ok := set.keys[epoch]
		if !ok || (epoch == set.current-1 && set.current == 0) {
			continue
		}
		out = append(out, sendtoken.EpochKey{Epoch: epoch, Key: k.Public()})
	}
	return s.name, out, nil
}

// untilNextEpoch is the whole seconds from now to the start of the next
// epoch, at least 1.
func untilNextEpoch(now time.Time, e uint64) int {
	d := sendtoken.EpochStart(e+1) - now.Unix()
	if d < 1 {
		d = 1
	}
	return int(d)
}

// handleSendTokenKeys answers GET /v1/send-tokens/keys (spec/keyserver.md
// §5.10), cacheable until the epoch changes.
func (s *Server) handleSendTokenKeys(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	set, err := s.sendTokenKeys(r.Context())
	if err != nil {
		return 0, nil, internal("send token keys", err)
	}
	maxAge := untilNextEpoch(s.now(), set.current)
	return http.StatusOK, &rawResponse{
		contentType:  "application/json",
		cacheControl: "public, max-age=" + strconv.Itoa(maxAge),
		body:         append(bytes.Clone(set.doc), '\n'),
	}, nil
}

// handleIssueSendTokens answers POST /v1/send-tokens (spec/keyserver.md
// §5.10): a batch of blind signatures under the current epoch's key. Every
// check comes before the count, and the count before the signing, so a
// refused request signs and counts nothing; no transaction is open while
// signing.
func (s *Server) handleIssueSendTokens(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	t, e := s.authenticate(r)
	if e != nil {
		return 0, nil, e
	}
	// A body longer than the largest batch is malformed, not too large
	// (spec/anonymous.md §5.3): read one byte past it to tell.
	limit := int64(2 + sendtoken.RequestSize*s.limits.SendTokenBatch)
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return 0, nil, badRequest(api.CodeMalformed, "could not read the request body")
	}
	// The caller's device must be active now (spec/keyserver.md §1.1).
	acct, e := s.account(r, t.Handle)
	if e != nil {
		if e.code == api.CodeUnknownHandle {
			e = newError(http.StatusNotFound, api.CodeUnknownDevice, "the token's account does not exist")
		}
		return 0, nil, e
	}
	if _, e := activeDevice(acct, uint32(t.Device)); e != nil {
		return 0, nil, e
	}
	if int64(len(body)) > limit {
		return 0, nil, badRequest(api.CodeMalformed, "batch larger than %d requests", s.limits.SendTokenBatch)
	}
	reqs, err := sendtoken.ParseBatchRequest(body, s.limits.SendTokenBatch)
	if err != nil {
		return 0, nil, badRequest(api.CodeMalformed, "not a batch of 1 to %d token requests (spec/anonymous.md §5.3)", s.limits.SendTokenBatch)
	}
	set, err := s.sendTokenKeys(r.Context())
	if err != nil {
		return 0, nil, internal("send token keys", err)
	}
	key := set.keys[set.current]
	pub := key.Public()
	id := pub.ID()
	n := pub.Bytes()[modulusOffset : modulusOffset+sendtoken.ModulusSize]
	// spec/anonymous.md §5.2 steps 2 and 3, for every request before any
	// is counted or signed (Issue checks them again).
	for i := range reqs {
		if reqs[i].TruncatedKeyID != id[sendtoken.KeyIDSize-1] {
			return 0, nil, badRequest(api.CodeUnknownKey, "request %d is not for the key of epoch %d; fetch %s", i, set.current, api.SendTokenKeysPath)
		}
		if bytes.Compare(reqs[i].BlindedMsg[:], n) >= 0 {
			return 0, nil, badRequest(api.CodeMalformed, "request %d: blinded message not below the modulus", i)
		}
	}
	if _, err := s.store.AddSendTokens(r.Context(), t.Handle, set.current, len(reqs), s.limits.SendTokensPerEpoch); err != nil {
		if errors.Is(err, store.ErrSendTokenLimit) {
			return 0, nil, &apiError{status: http.StatusTooManyRequests, code: api.CodeSendTokenLimit,
				message: fmt.Sprintf("at most %d send tokens per account per epoch", s.limits.SendTokensPerEpoch),
				retry:   untilNextEpoch(s.now(), set.current)}
		}
		return 0, nil, internal("count send tokens", err)
	}
	resps, err := key.Issue(reqs)
	if err == nil {
		var out []byte
		if out, err = sendtoken.MarshalBatchResponse(resps); err == nil {
			s.metrics.sendTokensIssued(len(resps))
			return http.StatusOK, &rawResponse{
				contentType: api.OctetStream,
				header:      map[string]string{api.HeaderSendTokenEpoch: strconv.FormatUint(set.current, 10)},
				body:        out,
			}, nil
		}
	}
	// Nothing was answered: give the count back.
	if rerr := s.store.ReturnSendTokens(context.WithoutCancel(r.Context()), t.Handle, set.current, len(reqs)); rerr != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "keyserver: return send tokens", slog.String("error", rerr.Error()))
	}
	return 0, nil, internal("issue send tokens", err)
}
