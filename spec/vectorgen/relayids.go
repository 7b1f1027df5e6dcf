package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/sealpost/sealpost/internal/vectors"
)

func init() { register("relay-ids.json", genRelayIDs) }

// This generator lays out device addresses (spec/relay.md §4), revoked
// device hashes (spec/keyserver.md §5.9) and quota item ids (spec/relay.md
// §7.2) from the spec's text; relay/wire, keyserver/revocation and relay
// check their code against the file.

func relayAddressCases() []vectors.RelayIDsCase {
	long := strings.Repeat("z", 32)
	ok := []struct {
		id, comment, handle string
		device              uint32
	}{
		{"bob-1", "the example of spec/relay.md §4", "bob", 1},
		{"short-handle", "a 3-byte handle: the shortest address, 8 bytes", "abc", 0x01020304},
		{"long-handle", "a 32-byte handle and device 2^32-1: the longest address, 37 bytes", long, 0xffffffff},
		{"all-chars", "a handle using . _ - and digits", "a.b_c-9", 2},
	}
	bad := []struct {
		id, comment string
		address     []byte
	}{
		{"empty", "no bytes", []byte{}},
		{"short-7", "7 bytes: below the 8-byte minimum", []byte{2, 'a', 'b', 0, 0, 0, 1}},
		{"long-38", "38 bytes: a 33-byte handle", addressBytes(long+"z", 1)},
		{"len-mismatch-over", "length byte 4 with a 3-byte handle", []byte{4, 'b', 'o', 'b', 0, 0, 0, 1}},
		{"len-mismatch-under", "length byte 3 with 4 bytes before the device id", []byte{3, 'b', 'o', 'b', 'x', 0, 0, 0, 1}},
		{"device-0", "device id 0", addressBytes("bob", 0)},
		{"upper-case", "a handle with an upper-case letter", addressBytes("Bob", 1)},
		{"bad-char", "a handle with a slash", addressBytes("b/b", 1)},
		{"nul", "a handle with a NUL byte", addressBytes("b\x00b", 1)},
	}
	var out []vectors.RelayIDsCase
	for _, c := range ok {
		out = append(out, vectors.RelayIDsCase{ID: "address-" + c.id, Comment: c.comment, Type: "address",
			Address: &vectors.RelayAddressCase{Address: addressBytes(c.handle, c.device), Handle: c.handle, Device: c.device}})
	}
	for _, c := range bad {
		out = append(out, vectors.RelayIDsCase{ID: "address-" + c.id, Comment: c.comment, Type: "address",
			Address: &vectors.RelayAddressCase{Address: c.address, Error: "malformed"}})
	}
	return out
}

func relayRevokedDeviceCases() []vectors.RelayIDsCase {
	cs := []struct {
		id, comment, handle string
		device              uint32
	}{
		{"bob-1", "bob's device 1", "bob", 1},
		{"bob-2", "bob's device 2", "bob", 2},
		{"long-handle", "a 32-byte handle and device 2^32-1", strings.Repeat("q", 32), 0xffffffff},
	}
	var out []vectors.RelayIDsCase
	for _, c := range cs {
		pre := append([]byte("sealpost/v1/revoked-device\x00"), addressBytes(c.handle, c.device)...)
		sum := sha256.Sum256(pre)
		out = append(out, vectors.RelayIDsCase{ID: "revoked-device-" + c.id, Comment: c.comment, Type: "revoked-device",
			RevokedDevice: &vectors.RelayRevokedDeviceCase{Handle: c.handle, Device: c.device, Preimage: pre, DeviceHash: sum[:]}})
	}
	return out
}

func relayQuotaItemCases() []vectors.RelayIDsCase {
	var out []vectors.RelayIDsCase
	for _, i := range []uint16{0, 1, 999, 0xffff} {
		pre := append([]byte("sealpost/v1/relay-quota-item\x00"), clientMsgID...)
		pre = binary.BigEndian.AppendUint16(pre, i)
		sum := sha256.Sum256(pre)
		out = append(out, vectors.RelayIDsCase{ID: fmt.Sprintf("quota-item-%d", i), Comment: fmt.Sprintf("item %d of a split send", i), Type: "quota-item",
			QuotaItem: &vectors.RelayQuotaItemCase{MessageID: clientMsgID, Index: i, Preimage: pre, ItemID: sum[:16]}})
	}
	return out
}

func genRelayIDs() ([]byte, error) {
	cases := append(relayAddressCases(), relayRevokedDeviceCases()...)
	cases = append(cases, relayQuotaItemCases()...)
	return encode(&vectors.File[vectors.RelayIDsCase]{
		Description: "Sealpost relay derivations: device addresses to parse (malformed or the handle and device they name), " +
			"the hash naming a revoked device in the key server's revocation feed, and the dedup id of each item of a split send.",
		Spec:  "spec/relay.md §4, §7.2; spec/keyserver.md §5.9",
		Cases: cases,
	})
}
