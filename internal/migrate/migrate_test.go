package migrate

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	ok := fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")},
		"m/0001_a.sql": {Data: []byte("A")},
		"m/README":     {Data: []byte("not a migration")},
	}
	ms, err := Load(ok, "m")
	if err != nil || len(ms) != 2 || ms[0].Name != "0001_a.sql" || ms[1].SQL != "B" || ms[1].Version != 2 {
		t.Fatalf("Load: %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"empty":        {},
		"gap":          {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"duplicate":    {"m/0001_a.sql": {}, "m/1_b.sql": {}},
		"no number":    {"m/a.sql": {}},
		"zero":         {"m/0000_a.sql": {}},
		"no separator": {"m/0001.sql": {}},
	} {
		if ms, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: accepted %+v", name, ms)
		}
	}
}
