//go:build !js

package localstore

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Device names: the later name wins (of equal times the greater), a repeat
// changes nothing, and last seen only moves forward (spec/client-store.md
// §4.33).
func TestDeviceInfo(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for _, c := range []struct {
			name string
			at   time.Time
			want bool
		}{
			{"phone", t0, true},
			{"phone", t0, false},
			{"older", t0.Add(-time.Second), false},
			{"a-smaller-name", t0, false},
			{"tablet", t0, true},
			{"laptop", t0.Add(time.Second), true},
		} {
			if got, err := tx.SetDeviceName(2, c.name, c.at); err != nil || got != c.want {
				t.Errorf("SetDeviceName(%q, %v) = %v, %v; want %v", c.name, c.at, got, err, c.want)
			}
		}
		if _, err := tx.SetDeviceName(2, "", t0.Add(time.Hour)); err == nil {
			t.Error("an empty name was stored")
		}
		for _, at := range []time.Time{t0, t0.Add(-time.Hour), {}} {
			if err := tx.SeeDevice(2, at); err != nil {
				return err
			}
		}
		return tx.SeeDevice(3, t0.Add(time.Minute))
	})
	view(t, s, func(tx Tx) error {
		in, err := tx.DeviceInfos()
		if err != nil {
			return err
		}
		if d := in[2]; len(in) != 2 || d.Name != "laptop" || !d.NameChanged.Equal(t0.Add(time.Second)) || !d.LastSeen.Equal(t0) {
			t.Errorf("device 2: %+v (of %d)", d, len(in))
		}
		if d := in[3]; d.Name != "" || !d.LastSeen.Equal(t0.Add(time.Minute)) {
			t.Errorf("device 3: %+v", d)
		}
		return nil
	})
}

// The device name is sealed in state.db (spec/client-store.md §4.33).
func TestDeviceNameSealed(t *testing.T) {
	requireSQLite(t)
	s, dir := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		_, err := tx.SetDeviceName(2, "laptop", t0)
		return err
	})
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var raw []byte
	if err := db.QueryRow(`SELECT name FROM device_info WHERE device = 2`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("laptop")) {
		t.Fatal("the device name is stored in the clear")
	}
}

// TestOwnDeviceHash (spec/client-store.md §4.11): a device put with its
// certificate or with the certificate's hash (a linking snapshot) reads
// back the same, a put replaces, an unknown state is refused and changes
// nothing.
func TestOwnDeviceHash(t *testing.T) {
	s, _ := create(t, pass("p"))
	cert := []byte("certificate of 2")
	update(t, s, func(tx Tx) error {
		if err := tx.PutOwnDevice(2, OwnApproved, cert); err != nil {
			return err
		}
		if err := tx.PutOwnDeviceHash(5, OwnApproved, sha256.Sum256([]byte("certificate of 5"))); err != nil {
			return err
		}
		if err := tx.PutOwnDeviceHash(5, OwnRevoked, sha256.Sum256([]byte("certificate of 5"))); err != nil {
			return err
		}
		if err := tx.PutOwnDeviceHash(7, 3, [32]byte{}); err == nil {
			t.Error("PutOwnDeviceHash of state 3 succeeded")
		}
		if err := tx.PutOwnDevice(7, 0, cert); err == nil {
			t.Error("PutOwnDevice of state 0 succeeded")
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		ds, err := tx.OwnDevices()
		if err != nil {
			return err
		}
		if d := ds[2]; len(ds) != 2 || d.Device != 2 || d.State != OwnApproved || !d.Matches(cert) || d.Matches([]byte("other")) {
			t.Errorf("OwnDevices = %+v", ds)
		}
		if d := ds[5]; d.State != OwnRevoked || !d.MatchesHash(sha256.Sum256([]byte("certificate of 5"))) {
			t.Errorf("device 5 = %+v", d)
		}
		if d, err := tx.OwnDevice(2); err != nil || d != ds[2] {
			t.Errorf("OwnDevice(2) = %+v, %v", d, err)
		}
		if _, err := tx.OwnDevice(7); !errors.Is(err, ErrNotFound) {
			t.Errorf("OwnDevice(7): %v, want ErrNotFound", err)
		}
		if err := tx.PutOwnDevice(8, OwnApproved, cert); !errors.Is(err, errReadOnly) {
			t.Errorf("PutOwnDevice in a read-only transaction: %v", err)
		}
		return nil
	})
}

// What a linking snapshot reads and writes (spec/client.md §17.1):
// HistorySince pages through every conversation in storage order from a
// sequence number, skipping messages sent before a time, up to a limit (a
// negative one is none); the timers come by peer; a message device's
// state is replaced whole.
func TestLinkingSnapshotRows(t *testing.T) {
	s, _ := create(t, pass("p"))
	var seqs []int64
	update(t, s, func(tx Tx) error {
		for i := range 6 {
			r := HistoryRow{Conversation: []string{"bob", "carol"}[i%2], ID: fmt.Appendf(nil, "m%d", i), Sender: "bob",
				Sent: t0.Add(time.Duration(i%3) * time.Second), Body: []byte("body")}
			seq, err := tx.PutHistory(r)
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		for _, p := range []string{"dave", "bob", "carol"} {
			if err := tx.SetConversationTimer(p, int64(len(p)), t0); err != nil {
				return err
			}
		}
		if err := tx.PutMessageDevice([]byte("m0"), "bob", 1); err != nil {
			return err
		}
		return tx.PutMessageDeviceState(MessageDevice{MessageID: []byte("m0"), Recipient: "bob", Device: 1, Read: t0})
	})
	ids := func(rs []HistoryRow) []string {
		var out []string
		for _, r := range rs {
			out = append(out, string(r.ID))
		}
		return out
	}
	view(t, s, func(tx Tx) error {
		for _, c := range []struct {
			since time.Time
			seq   int64
			limit int
			want  []string
		}{
			{time.Time{}, 0, -1, []string{"m0", "m1", "m2", "m3", "m4", "m5"}},
			{time.Time{}, seqs[1], 2, []string{"m2", "m3"}},
			{t0.Add(time.Second), 0, -1, []string{"m1", "m2", "m4", "m5"}},
			{t0.Add(time.Second), seqs[2], 1, []string{"m4"}},
			{t0.Add(2 * time.Second), seqs[5], -1, nil},
			{time.Time{}, 0, 0, nil},
		} {
			rs, err := tx.HistorySince(c.since, c.seq, c.limit)
			if err != nil {
				return err
			}
			if got := ids(rs); !slices.Equal(got, c.want) {
				t.Errorf("HistorySince(%v, %d, %d) = %v, want %v", c.since, c.seq, c.limit, got, c.want)
			}
		}
		if rs, err := tx.HistorySince(time.Time{}, seqs[3], 1); err != nil || len(rs) != 1 || rs[0].Seq != seqs[4] || rs[0].Conversation != "bob" || string(rs[0].Body) != "body" || !rs[0].Sent.Equal(t0.Add(time.Second)) {
			t.Errorf("HistorySince row = %+v, %v", rs, err)
		}
		timers, err := tx.ConversationTimers()
		if err != nil {
			return err
		}
		var peers []string
		for _, r := range timers {
			peers = append(peers, r.Peer)
			if r.Seconds != int64(len(r.Peer)) || !r.Changed.Equal(t0) {
				t.Errorf("timer row %+v", r)
			}
		}
		if !slices.Equal(peers, []string{"bob", "carol", "dave"}) {
			t.Errorf("ConversationTimers peers = %v", peers)
		}
		ms, err := tx.MessageDevices([]byte("m0"))
		if err != nil || len(ms) != 1 || !ms[0].Delivered.IsZero() || !ms[0].Read.Equal(t0) {
			t.Errorf("MessageDevices after PutMessageDeviceState = %+v, %v", ms, err)
		}
		return nil
	})
}
