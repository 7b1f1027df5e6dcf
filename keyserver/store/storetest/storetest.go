// Package storetest is the conformance suite every store.Store engine runs:
// an engine's test calls Run in one line, and the same cases then hold for
// SQLite and PostgreSQL alike.
//
// The suite knows only the store.Store interface. Where the interface
// leaves a choice open (for example which of several one-time prekeys a
// claim hands out) the suite accepts every choice the interface allows.
//
// Conventions the suite relies on beyond the interface comments:
//   - Leaves(start, end) fails (with any error) unless 0 <= start <= end <=
//     LogSize; start == end returns no leaves and no error.
//   - ReadHashes returns one hash per index, in the order asked, repeats
//     included (the tlog.HashReader contract); it fails (with any error)
//     for an index not stored yet; no indexes give no hashes and no error.
//   - ClaimPrekeys on an account with no eligible device returns no claims
//     and no error.
//   - Times come back equal (time.Time.Equal) to whole-second times put in.
//   - A challenge is live while now is before its expiry.
//   - Concurrent claims may hand out a one-time prekey of one kind and the
//     last-resort KEM prekey (or no one-time X25519 prekey) while the last
//     ones of the other kind are held by claims in flight.
package storetest

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/keyserver/store"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called (subtests run in parallel, each on its own store) and
// arrange for it to be closed with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"CreateAccount", testCreateAccount},
		{"CreateHandleTaken", testCreateHandleTaken},
		{"Invites", testInvites},
		{"InviteConsumedOnlyOnSuccess", testInviteConsumedOnlyOnSuccess},
		{"AddDevice", testAddDevice},
		{"AddDeviceRefused", testAddDeviceRefused},
		{"Revoke", testRevoke},
		{"RevokeRefused", testRevokeRefused},
		{"DevicesSorted", testDevicesSorted},
		{"ConcurrentSameAccount", testConcurrentSameAccount},
		{"ConcurrentCreateSameHandle", testConcurrentCreateSameHandle},
		{"LogLeaves", testLogLeaves},
		{"LogBounds", testLogBounds},
		{"LogTreeHash", testLogTreeHash},
		{"LogConcurrentUpdates", testLogConcurrentUpdates},
		{"UploadPrekeys", testUploadPrekeys},
		{"UploadRefused", testUploadRefused},
		{"TooManyPrekeys", testTooManyPrekeys},
		{"DuplicatePrekey", testDuplicatePrekey},
		{"Claim", testClaim},
		{"ClaimEligibility", testClaimEligibility},
		{"ClaimUnknown", testClaimUnknown},
		{"Bundles", testBundles},
		{"PrekeyIDs", testPrekeyIDs},
		{"ConcurrentClaims", testConcurrentClaims},
		{"CountRevoked", testCountRevoked},
		{"Revocations", testRevocations},
		{"Challenges", testChallenges},
		{"ChallengeExpired", testChallengeExpired},
		{"ConcurrentChallenge", testConcurrentChallenge},
		{"Directory", testDirectory},
		{"DirectoryRefusals", testDirectoryRefusals},
		{"DirectoryConcurrentCommit", testDirectoryConcurrentCommit},
		{"Sequencer", testSequencer},
		{"SendTokenKeys", testSendTokenKeys},
		{"ConcurrentSendTokenKey", testConcurrentSendTokenKey},
		{"SendTokenCounts", testSendTokenCounts},
		{"ConcurrentSendTokenCounts", testConcurrentSendTokenCounts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newFixture(t, open(t)))
		})
	}
	t.Run("Map", func(t *testing.T) { runMap(t, open) })
}

// fixture is one test's store and the clock it uses.
type fixture struct {
	t   *testing.T
	s   store.Store
	ctx context.Context
	now time.Time
	rnd io.Reader
}

func newFixture(t *testing.T, s store.Store) *fixture {
	return &fixture{
		t: t, s: s, ctx: t.Context(),
		now: time.Unix(time.Now().Unix(), 0).UTC(),
		rnd: &lockedReader{r: testrand.New("storetest " + t.Name())},
	}
}

// wantErr fails unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// must fails on err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
