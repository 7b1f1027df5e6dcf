package fs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestReplaceDirTwoSteps: the fallback where no atomic exchange exists
// puts src in dst's place and the old dst in trash.
func TestReplaceDirTwoSteps(t *testing.T) {
	e, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	src, dst := filepath.Join(e.uploads, "k.new"), filepath.Join(e.objects, "k")
	for dir, content := range map[string]string{src: "new", dst: "old"} {
		if err := os.Mkdir(dir, dirPerm); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte(content), filePerm); err != nil {
			t.Fatal(err)
		}
	}
	old, err := e.replaceDirTwoSteps(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(old) != e.trash {
		t.Fatalf("old directory went to %s, not trash", old)
	}
	for path, want := range map[string]string{filepath.Join(dst, "f"): "new", filepath.Join(old, "f"): "old"} {
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Fatalf("%s: %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatalf("src still there: %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	good := blobManifest{handle: "0123456789abcdef0123456789abcdef", size: 5242885, parts: []partRef{
		{name: "00001-0123456789abcdef", size: 5242880}, {name: "00003-fedcba9876543210", size: 5},
	}}
	f.Add(good.marshal())
	f.Add([]byte("sealpost-blob 1\nhandle 0123456789abcdef0123456789abcdef\nsize 0\n"))
	f.Add([]byte("sealpost-blob 1\nhandle x\nsize 1\npart 00001-0123456789abcdef 1\n"))
	f.Add([]byte("sealpost-blob 1\nhandle 0123456789abcdef0123456789abcdef\nsize 9223372036854775807\npart 00001-0123456789abcdef 9223372036854775807\n"))
	// Counts in another spelling than the manifest's own (found by the
	// fuzzer): refused, so that a manifest has one encoding.
	for _, n := range []string{"07", "+7", "-0", "00"} {
		f.Add([]byte("sealpost-blob 1\nhandle 0123456789abcdef0123456789abcdef\nsize 7\npart 00001-0123456789abcdef " + n + "\n"))
		f.Add([]byte("sealpost-blob 1\nhandle 0123456789abcdef0123456789abcdef\nsize " + n + "\npart 00001-0123456789abcdef 7\n"))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseManifest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.marshal(), b) {
			t.Fatalf("marshal(parse(%q)) = %q", b, m.marshal())
		}
		var sum int64
		for _, p := range m.parts {
			if !validPartName(p.name) || p.size < 0 {
				t.Fatalf("accepted part %+v", p)
			}
			sum += p.size
		}
		if sum != m.size || len(m.parts) == 0 {
			t.Fatalf("accepted %d parts summing to %d for size %d", len(m.parts), sum, m.size)
		}
	})
}
