package localstore

import (
	"bytes"
	"database/sql"
	"path/filepath"
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
