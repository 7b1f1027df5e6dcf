package keyserver_test

import (
	"reflect"
	"testing"

	"github.com/sealpost/sealpost/keyserver"
)

func TestDecodeRequest(t *testing.T) {
	cases := []struct {
		name string
		in   string
		code string // "" for accepted
		want keyserver.TokenRequest
	}{
		{"valid", `{"handle":"alice","device":2,"audience":"keyserver:x","challenge":"AQID","challenge_signature":""}`, "",
			keyserver.TokenRequest{Handle: "alice", Device: 2, Audience: "keyserver:x", Challenge: []byte{1, 2, 3}}},
		{"white space around", " \n{\"handle\":\"bob\"}\t\n", "", keyserver.TokenRequest{Handle: "bob"}},
		{"null binary", `{"challenge":null}`, "", keyserver.TokenRequest{}},
		{"empty", ``, keyserver.CodeMalformedJSON, keyserver.TokenRequest{}},
		{"null", `null`, keyserver.CodeMalformedJSON, keyserver.TokenRequest{}},
		{"array", `[]`, keyserver.CodeMalformedJSON, keyserver.TokenRequest{}},
		{"two objects", `{}{}`, keyserver.CodeMalformedJSON, keyserver.TokenRequest{}},
		{"trailing garbage", `{} x`, keyserver.CodeMalformedJSON, keyserver.TokenRequest{}},
		{"truncated", `{"handle":"a`, keyserver.CodeMalformedJSON, keyserver.TokenRequest{}},
		{"repeated", `{"handle":"a","handle":"b"}`, keyserver.CodeMalformedJSON, keyserver.TokenRequest{}},
		{"negative device", `{"device":-1}`, keyserver.CodeMalformedJSON, keyserver.TokenRequest{}},
		{"device too big", `{"device":4294967296}`, keyserver.CodeMalformedJSON, keyserver.TokenRequest{}},
		{"device fraction", `{"device":1.5}`, keyserver.CodeMalformedJSON, keyserver.TokenRequest{}},
		{"unknown", `{"handle":"a","x":1}`, keyserver.CodeUnknownField, keyserver.TokenRequest{}},
		{"case", `{"HANDLE":"a"}`, keyserver.CodeUnknownField, keyserver.TokenRequest{}},
		{"padding", `{"challenge":"AQ=="}`, keyserver.CodeBadBase64, keyserver.TokenRequest{}},
		{"std alphabet", `{"challenge":"+/8"}`, keyserver.CodeBadBase64, keyserver.TokenRequest{}},
		{"trailing bits", `{"challenge":"AR"}`, keyserver.CodeBadBase64, keyserver.TokenRequest{}},
		{"escaped newline", `{"challenge":"AQID\r\nAQID"}`, keyserver.CodeBadBase64, keyserver.TokenRequest{}},
		{"number", `{"challenge":5}`, keyserver.CodeBadBase64, keyserver.TokenRequest{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := keyserver.TokenRequest{Handle: "untouched"}
			err := keyserver.DecodeRequest([]byte(tc.in), &got)
			if tc.code != "" {
				if keyserver.ErrorCode(err) != tc.code {
					t.Fatalf("error %v (code %q), want code %q", err, keyserver.ErrorCode(err), tc.code)
				}
				if got.Handle != "untouched" || got.Challenge != nil {
					t.Fatalf("refused decode changed the value: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeRequestPrekeyUpload(t *testing.T) {
	var u keyserver.PrekeyUpload
	if err := keyserver.DecodeRequest([]byte(`{"one_time_prekeys":["AQ","Ag"],"one_time_kem_prekeys":[]}`), &u); err != nil {
		t.Fatal(err)
	}
	if len(u.OneTimePrekeys) != 2 || u.OneTimePrekeys[1][0] != 2 || u.OneTimeKEMPrekeys == nil || len(u.OneTimeKEMPrekeys) != 0 {
		t.Fatalf("%+v", u)
	}
	if err := keyserver.DecodeRequest([]byte(`{"one_time_prekeys":["AQ","A="]}`), &u); keyserver.ErrorCode(err) != keyserver.CodeBadBase64 {
		t.Fatalf("bad element: %v", err)
	}
}
