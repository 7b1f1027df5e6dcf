package blobs

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs/api"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	tests := []struct {
		header  string
		start   int64
		length  int64
		partial bool
		ok      bool
	}{
		{"", 0, size, false, true},
		{"bytes=0-999", 0, size, true, true},
		{"bytes=0-", 0, size, true, true},
		{"BYTES=1-1", 1, 1, true, true},
		{"bytes= 5-9 ", 5, 5, true, true},
		{"bytes=999-", 999, 1, true, true},
		{"bytes=990-99999999999999999999999", 990, 10, true, true},
		{"bytes=-1", 999, 1, true, true},
		{"bytes=-1000", 0, size, true, true},
		{"bytes=-99999999999999999999999", 0, size, true, true},
		{"items=0-1", 0, size, false, true},
		{"bytes=1000-", 0, 0, false, false},
		{"bytes=99999999999999999999999-", 0, 0, false, false},
		{"bytes=-0", 0, 0, false, false},
		{"bytes=0-1,2-3", 0, 0, false, false},
		{"bytes=0-1,", 0, 0, false, false},
		{"bytes=2-1", 0, 0, false, false},
		{"bytes=-", 0, 0, false, false},
		{"bytes=", 0, 0, false, false},
		{"bytes=1", 0, 0, false, false},
		{"bytes=+1-2", 0, 0, false, false},
		{"bytes=1--2", 0, 0, false, false},
		{"bytes=0x1-2", 0, 0, false, false},
		{"bytes", 0, 0, false, false},
		{"by tes=1-2", 0, 0, false, false},
	}
	for _, tc := range tests {
		start, length, partial, err := ParseRange(tc.header, size)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok %v", tc.header, err, tc.ok)
			continue
		}
		if err != nil {
			if ErrorCode(err) != api.CodeRangeNotSatisfy {
				t.Errorf("%q: code %q", tc.header, ErrorCode(err))
			}
			continue
		}
		if start != tc.start || length != tc.length || partial != tc.partial {
			t.Errorf("%q = %d, %d, %v; want %d, %d, %v", tc.header, start, length, partial, tc.start, tc.length, tc.partial)
		}
	}
}

func TestDecodeCreate(t *testing.T) {
	d := bytes.Repeat([]byte{0xfb}, 32)
	dt := api.EncodeID([32]byte(d))
	tests := []struct {
		body string
		size int64
		code string
	}{
		{`{"size":5,"digest":"` + dt + `"}`, 5, ""},
		{` {"digest":"` + dt + `", "size": 5} `, 5, ""},
		{`{"size":null,"digest":"` + dt + `"}`, 0, ""},
		{`{}`, 0, ""},
		{``, 0, api.CodeMalformedJSON},
		{`{`, 0, api.CodeMalformedJSON},
		{`{"size":5`, 0, api.CodeMalformedJSON},
		{`{"size":5}}`, 0, api.CodeMalformedJSON},
		{`{"size":5}x`, 0, api.CodeMalformedJSON},
		{`null`, 0, api.CodeMalformedJSON},
		{`{"size":true}`, 0, api.CodeMalformedJSON},
		{`{"size":{}}`, 0, api.CodeMalformedJSON},
		{`{"digest":5}`, 0, api.CodeMalformedJSON},
		{`{"digest":[]}`, 0, api.CodeMalformedJSON},
		{`{"size":5.5}`, 0, api.CodeMalformedJSON},
		{`{"size":5,"size":5}`, 0, api.CodeMalformedJSON},
		{`{"sizE":5}`, 0, api.CodeUnknownField},
		{`{"other":{"a":[1,2]}}`, 0, api.CodeUnknownField},
		{`{"digest":"a="}`, 0, api.CodeBadBase64},
		{`{"digest":"ab\ncd"}`, 0, api.CodeBadBase64},
		{`{"digest":"AB"}`, 0, api.CodeBadBase64}, // unused bits set
	}
	for _, tc := range tests {
		req, err := DecodeCreate([]byte(tc.body))
		if ErrorCode(err) != tc.code || (err == nil) != (tc.code == "") {
			t.Errorf("%s: err %v, want code %q", tc.body, err, tc.code)
			continue
		}
		if err == nil && req.Size != tc.size {
			t.Errorf("%s: size %d", tc.body, req.Size)
		}
	}
}

func TestParsePartHeaders(t *testing.T) {
	tests := []struct {
		offset string
		cl     int64
		ok     bool
	}{
		{"0", 5, true},
		{"5242880", 0, true},
		{"999999999999999999", 1, true},
		{"", 5, false},
		{"00", 5, false},
		{"01", 5, false},
		{"-1", 5, false},
		{"+1", 5, false},
		{"1 ", 5, false},
		{"1e3", 5, false},
		{"9999999999999999999", 5, false},
		{"0", -1, false},
	}
	for _, tc := range tests {
		_, _, err := ParsePartHeaders(tc.offset, tc.cl)
		if (err == nil) != tc.ok || err != nil && ErrorCode(err) != api.CodeBadPart {
			t.Errorf("(%q, %d): %v", tc.offset, tc.cl, err)
		}
	}
}

// TestConfigValidate: defaults are valid; Validate reports every problem.
func TestConfigValidate(t *testing.T) {
	key := issuer.Public().(ed25519.PublicKey)
	good := Config{Name: "example.org", TokenKeys: []ed25519.PublicKey{key}}
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := Config{
		Name:           "",
		PartSize:       1 << 20,
		MaxBlobSize:    -1,
		AccountQuota:   -1,
		MaxOpenUploads: -1,
		BlobTTL:        time.Second,
		UploadTTL:      time.Second,
		PartTimeout:    time.Millisecond,
		MinRate:        -1,
		SweepInterval:  time.Nanosecond,
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Name", "TokenKeys is required", "PartSize", "MaxBlobSize", "AccountQuota", "MaxOpenUploads", "BlobTTL", "UploadTTL", "PartTimeout", "MinRate", "SweepInterval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not reported in:\n%v", want, err)
		}
	}
	tooMany := good
	tooMany.PartSize = MinPartSize
	tooMany.MaxBlobSize = MinPartSize*10000 + 1
	if err := tooMany.Validate(); err == nil || !strings.Contains(err.Error(), "parts") {
		t.Errorf("more than MaxParts parts: %v", err)
	}
	if _, err := New(bad, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "meta.Store") || !strings.Contains(err.Error(), "PartSize") {
		t.Errorf("New: %v", err)
	}
}
