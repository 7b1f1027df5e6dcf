package localstore

import "fmt"

// The kv engine's ratchet sessions (sessions.go).

// PutSession implements Tx.
func (tx *kvTx) PutSession(s Session) error {
	sealed, err := tx.s.seal(sessionAD(s.PeerHandle, s.PeerDevice), s.State)
	if err != nil {
		return err
	}
	h := tx.t("sessions")
	// An upsert, not a replace: the row's ephemeral run (§4.4) stays.
	r, ok := h.get(s.PeerHandle, s.PeerDevice)
	if !ok {
		r = h.row("peer_handle", s.PeerHandle, "peer_device", s.PeerDevice)
	}
	r.set("state", sealed).set("updated", nanos(s.Updated))
	_, err = h.put(r)
	return err
}

// EphemeralRun implements Tx.
func (tx *kvTx) EphemeralRun(handle string, device uint32) (int, error) {
	r, ok := tx.t("sessions").get(handle, device)
	if !ok {
		return 0, ErrNotFound
	}
	return int(r.i("ephemeral_run")), nil
}

// SetEphemeralRun implements Tx.
func (tx *kvTx) SetEphemeralRun(handle string, device uint32, n int) error {
	const op = "set ephemeral run"
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("sessions")
	r, ok := h.get(handle, device)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, op)
	}
	r.set("ephemeral_run", n)
	if _, err := h.update(r); err != nil {
		return fmt.Errorf("localstore: %s: %w", op, err)
	}
	return nil
}

// Session implements Tx.
func (tx *kvTx) Session(handle string, device uint32) (Session, error) {
	r, ok := tx.t("sessions").get(handle, device)
	if !ok {
		return Session{}, ErrNotFound
	}
	state, err := tx.s.open(sessionAD(handle, device), r.b("state"))
	if err != nil {
		return Session{}, err
	}
	return Session{PeerHandle: handle, PeerDevice: device, State: state, Updated: fromNanos(r.i("updated"))}, nil
}

// SessionDevices implements Tx.
func (tx *kvTx) SessionDevices(handle string) ([]uint32, error) {
	var (
		ds  []uint32
		err error
	)
	tx.t("sessions").scan(false, func(r kvRow) bool {
		var d uint32
		if d, err = sessionDevice(r.i("peer_device")); err != nil {
			return false
		}
		ds = append(ds, d)
		return true
	}, handle)
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// DeleteSession implements Tx.
func (tx *kvTx) DeleteSession(handle string, device uint32) error {
	op := fmt.Sprintf("delete session %q/%d", handle, device)
	ok, err := tx.t("sessions").del(handle, device)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, op)
	}
	return nil
}

// SessionPeers implements Tx.
func (tx *kvTx) SessionPeers() ([]SessionPeer, error) {
	var ps []SessionPeer
	for _, r := range tx.t("sessions").all() {
		d, err := sessionDevice(r.i("peer_device"))
		if err != nil {
			return nil, err
		}
		ps = append(ps, SessionPeer{r.s("peer_handle"), d})
	}
	return ps, nil
}
