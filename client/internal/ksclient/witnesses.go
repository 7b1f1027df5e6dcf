package ksclient

import (
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/keyserver/kt"
)

// RequireWitnesses makes every checkpoint this client verifies (lookups,
// audits) need valid cosignatures from at least quorum of ws
// (spec/transparency-v2.md §7.4): one that lacks them is refused with an
// error wrapping kt.ErrNoQuorum, before it can become a pin. An unusable
// policy is kt.ErrWitnessPolicy. Call it before the client is used.
func (c *Client) RequireWitnesses(ws []kt.Witness, quorum int) error {
	if err := kt.CheckPolicy(nil, ws, quorum); err != nil {
		return err
	}
	c.witnesses, c.quorum = append([]kt.Witness(nil), ws...), quorum
	return nil
}

// openCheckpoint opens signed with v and, if RequireWitnesses was
// called, checks its quorum of cosignatures.
func (c *Client) openCheckpoint(v *kt.Verifier, signed []byte) (*kt.Checkpoint, error) {
	if len(c.witnesses) == 0 {
		return v.OpenCheckpoint(signed)
	}
	cp, _, err := kt.VerifyCosigned(signed, v, c.witnesses, c.quorum)
	return cp, err
}

// checkpointError wraps an error of openCheckpoint: a missing quorum or an
// unusable policy is a refusal to go on, not evidence against the server;
// every other failure is.
func checkpointError(err error, format string, args ...any) error {
	if errors.Is(err, kt.ErrNoQuorum) || errors.Is(err, kt.ErrWitnessPolicy) {
		return fmt.Errorf("ksclient: %s: %w", fmt.Sprintf(format, args...), err)
	}
	return securityError(err, format, args...)
}
