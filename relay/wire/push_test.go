package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Each SetPush or PushSet that breaks a rule of spec/relay.md §3.3 is
// malformed, whichever way it travels.
func TestPushFramesRefused(t *testing.T) {
	point := append([]byte{4}, bytes.Repeat([]byte{0x11}, PushP256dhSize-1)...)
	auth := bytes.Repeat([]byte{0x22}, PushAuthSize)
	web := func(mod func(*SetPush)) *Frame {
		p := &SetPush{Kind: PushKind_PUSH_KIND_WEB_PUSH, Endpoint: "https://push.example/x", P256Dh: point, Auth: auth}
		mod(p)
		return &Frame{Body: &Frame_SetPush{SetPush: p}}
	}
	gw := func(mod func(*SetPush)) *Frame {
		p := &SetPush{Kind: PushKind_PUSH_KIND_GATEWAY, Endpoint: "https://gw.example", Token: []byte{1}}
		mod(p)
		return &Frame{Body: &Frame_SetPush{SetPush: p}}
	}
	for name, f := range map[string]*Frame{
		"nil set push":        {Body: &Frame_SetPush{}},
		"kind 0":              web(func(p *SetPush) { p.Kind = 0 }),
		"kind 9":              web(func(p *SetPush) { p.Kind = 9 }),
		"none with endpoint":  {Body: &Frame_SetPush{SetPush: &SetPush{Kind: PushKind_PUSH_KIND_NONE, Endpoint: "https://x"}}},
		"none with token":     {Body: &Frame_SetPush{SetPush: &SetPush{Kind: PushKind_PUSH_KIND_NONE, Token: []byte{1}}}},
		"web no endpoint":     web(func(p *SetPush) { p.Endpoint = "" }),
		"web long endpoint":   web(func(p *SetPush) { p.Endpoint = "https://x/" + strings.Repeat("a", MaxPushEndpoint) }),
		"web short key":       web(func(p *SetPush) { p.P256Dh = point[:64] }),
		"web compressed key":  web(func(p *SetPush) { p.P256Dh = append([]byte{2}, point[1:]...) }),
		"web short auth":      web(func(p *SetPush) { p.Auth = auth[:15] }),
		"web with token":      web(func(p *SetPush) { p.Token = []byte{1} }),
		"gateway no token":    gw(func(p *SetPush) { p.Token = nil }),
		"gateway long token":  gw(func(p *SetPush) { p.Token = make([]byte, MaxPushToken+1) }),
		"gateway no endpoint": gw(func(p *SetPush) { p.Endpoint = "" }),
		"gateway with keys":   gw(func(p *SetPush) { p.P256Dh = point; p.Auth = auth }),
		"push set status 0":   {Body: &Frame_PushSet{PushSet: &PushSet{}}},
		"push set status 7":   {Body: &Frame_PushSet{PushSet: &PushSet{Status: 7}}},
		"nil drain":           {Body: &Frame_Drain{}},
		"nil drained":         {Body: &Frame_Drained{}},
	} {
		if err := Check(f); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Check = %v, want ErrMalformed", name, err)
		}
		if b, err := Encode(f); err == nil || b != nil {
			t.Errorf("%s: Encode = %x, %v", name, b, err)
		}
	}
}
