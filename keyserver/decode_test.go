package keyserver_test

import (
	"reflect"
	"testing"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
)

func TestDecodeRequest(t *testing.T) {
	cases := []struct {
		name string
		in   string
		code string // "" for accepted
		want api.TokenRequest
	}{
		{"valid", `{"handle":"alice","device":2,"audience":"keyserver:x","challenge":"AQID","challenge_signature":""}`, "",
			api.TokenRequest{Handle: "alice", Device: 2, Audience: "keyserver:x", Challenge: []byte{1, 2, 3}}},
		{"white space around", " \n{\"handle\":\"bob\"}\t\n", "", api.TokenRequest{Handle: "bob"}},
		{"null binary", `{"challenge":null}`, "", api.TokenRequest{}},
		{"empty", ``, api.CodeMalformedJSON, api.TokenRequest{}},
		{"null", `null`, api.CodeMalformedJSON, api.TokenRequest{}},
		{"array", `[]`, api.CodeMalformedJSON, api.TokenRequest{}},
		{"two objects", `{}{}`, api.CodeMalformedJSON, api.TokenRequest{}},
		{"trailing garbage", `{} x`, api.CodeMalformedJSON, api.TokenRequest{}},
		{"truncated", `{"handle":"a`, api.CodeMalformedJSON, api.TokenRequest{}},
		{"repeated", `{"handle":"a","handle":"b"}`, api.CodeMalformedJSON, api.TokenRequest{}},
		{"negative device", `{"device":-1}`, api.CodeMalformedJSON, api.TokenRequest{}},
		{"device too big", `{"device":4294967296}`, api.CodeMalformedJSON, api.TokenRequest{}},
		{"device fraction", `{"device":1.5}`, api.CodeMalformedJSON, api.TokenRequest{}},
		{"unknown", `{"handle":"a","x":1}`, api.CodeUnknownField, api.TokenRequest{}},
		{"case", `{"HANDLE":"a"}`, api.CodeUnknownField, api.TokenRequest{}},
		{"padding", `{"challenge":"AQ=="}`, api.CodeBadBase64, api.TokenRequest{}},
		{"std alphabet", `{"challenge":"+/8"}`, api.CodeBadBase64, api.TokenRequest{}},
		{"trailing bits", `{"challenge":"AR"}`, api.CodeBadBase64, api.TokenRequest{}},
		{"escaped newline", `{"challenge":"AQID\r\nAQID"}`, api.CodeBadBase64, api.TokenRequest{}},
		{"number", `{"challenge":5}`, api.CodeBadBase64, api.TokenRequest{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := api.TokenRequest{Handle: "untouched"}
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
	var u api.PrekeyUpload
	if err := keyserver.DecodeRequest([]byte(`{"one_time_prekeys":["AQ","Ag"],"one_time_kem_prekeys":[]}`), &u); err != nil {
		t.Fatal(err)
	}
	if len(u.OneTimePrekeys) != 2 || u.OneTimePrekeys[1][0] != 2 || u.OneTimeKEMPrekeys == nil || len(u.OneTimeKEMPrekeys) != 0 {
		t.Fatalf("%+v", u)
	}
	if err := keyserver.DecodeRequest([]byte(`{"one_time_prekeys":["AQ","A="]}`), &u); keyserver.ErrorCode(err) != api.CodeBadBase64 {
		t.Fatalf("bad element: %v", err)
	}
}
