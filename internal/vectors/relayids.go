package vectors

// This file defines the cases of spec/vectors/relay-ids.json: the byte
// strings a relay derives from names (spec/relay.md §4, §7.2 and
// spec/keyserver.md §5.9).

// RelayIDsCase is one case of relay-ids.json. Type names the one pointer
// field that is set: "address", "revoked-device" or "quota-item".
type RelayIDsCase struct {
	ID            string                  `json:"id"`
	Comment       string                  `json:"comment"`
	Type          string                  `json:"type"`
	Address       *RelayAddressCase       `json:"address,omitempty"`
	RevokedDevice *RelayRevokedDeviceCase `json:"revoked_device,omitempty"`
	QuotaItem     *RelayQuotaItemCase     `json:"quota_item,omitempty"`
}

// RelayAddressCase is a device address (spec/relay.md §4) to parse. When
// Error is "" it is the address of (Handle, Device), and formatting them
// gives Address back; else Error is "malformed".
type RelayAddressCase struct {
	Address Hex    `json:"address"`
	Error   string `json:"error"`
	Handle  string `json:"handle,omitempty"`
	Device  uint32 `json:"device,omitempty"`
}

// RelayRevokedDeviceCase is the hash that names a revoked device in the
// key server's revocation feed (spec/keyserver.md §5.9):
// SHA-256("sealpost/v1/revoked-device" || 0x00 || address).
type RelayRevokedDeviceCase struct {
	Handle     string `json:"handle"`
	Device     uint32 `json:"device"`
	Preimage   Hex    `json:"preimage"`
	DeviceHash Hex    `json:"device_hash"`
}

// RelayQuotaItemCase is the dedup id of item Index of a split send
// (spec/relay.md §7.2).
type RelayQuotaItemCase struct {
	MessageID Hex    `json:"message_id"`
	Index     uint16 `json:"index"`
	Preimage  Hex    `json:"preimage"`
	ItemID    Hex    `json:"item_id"`
}
