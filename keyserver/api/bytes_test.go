package api

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// Bytes encodes as the quoted base64url of its value without padding,
// nil and empty as "" (spec/keyserver.md §2.2), and decodes back.
func TestBytesJSON(t *testing.T) {
	for _, b := range []Bytes{nil, {}, {0}, {0xfb, 0xff}, {1, 2, 3}, make(Bytes, 1000)} {
		got, err := json.Marshal(struct {
			V Bytes `json:"v"`
		}{b})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"v":"` + base64.RawURLEncoding.EncodeToString(b) + `"}`
		if string(got) != want {
			t.Errorf("%x: %s, want %s", []byte(b), got, want)
		}
		var back struct {
			V Bytes `json:"v"`
		}
		if err := json.Unmarshal(got, &back); err != nil || string(back.V) != string(b) {
			t.Errorf("%x: decoded %x, %v", []byte(b), []byte(back.V), err)
		}
	}
}
