package relay

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
)

// InfoPath serves what a device needs to know about the relay before it
// registers for wake-ups (spec/push.md §2.1).
const InfoPath = "/.well-known/sealpost-relay"

// Info is the body of GET InfoPath.
type Info struct {
	Name string    `json:"name"`
	Push *PushInfo `json:"push,omitempty"` // absent: the relay sends no wake-ups
}

// PushInfo says how the relay wakes devices.
type PushInfo struct {
	// VAPIDPublicKey is the relay's VAPID key, base64url without
	// padding, 65 bytes: the applicationServerKey of a Web Push
	// subscription. Absent: no Web Push.
	VAPIDPublicKey string   `json:"vapid_public_key,omitempty"`
	Gateways       []string `json:"gateways,omitempty"`
	WakeIntervalMs int64    `json:"wake_interval_ms"`
}

func (s *Server) info() Info {
	in := Info{Name: s.name}
	if p := s.push; p != nil {
		in.Push = &PushInfo{Gateways: p.cfg.Gateways, WakeIntervalMs: p.cfg.Interval.Milliseconds()}
		if p.cfg.WebPush != nil {
			in.Push.VAPIDPublicKey = base64.RawURLEncoding.EncodeToString(p.cfg.VAPIDPublicKey)
		}
	}
	return in
}

func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request) {
	b, err := json.Marshal(s.info())
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	w.Write(b)
}
