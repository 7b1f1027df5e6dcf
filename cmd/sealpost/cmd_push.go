package main

import (
	"context"
	"encoding/base64"
	"flag"
	"strings"
	"time"

	"github.com/sealpost/sealpost/client"
)

var pushCommand = &command{
	name:    "push",
	usage:   "push info | push set (--web-push URL --p256dh B64 --auth B64 | --gateway URL --token B64) | push remove",
	summary: "show the relay's wake-ups, register or remove this device's push target",
	help: `
A relay wakes a device that is not connected when mail comes for it,
through a push target the device registered: the subscription of a Web
Push service (a browser's, or a UnifiedPush distributor's such as ntfy),
or the token of an app vendor's push gateway for APNs or FCM. The wake-up
carries no content; the device then runs 'sealpost sync'.

"push info" shows what the relay offers: its VAPID public key (the
applicationServerKey to subscribe with), the gateways it knows and how
often it wakes a device at most.

"push set --web-push URL --p256dh B64 --auth B64" registers a Web Push
subscription: its endpoint URL and its keys (base64url, as
PushSubscription.toJSON gives them). "push set --gateway URL --token B64"
registers a gateway token. The target is kept in the store and registered
again at every connection. A target the relay refuses (it sends no
wake-ups of this kind, the endpoint is not reachable for it, it does not
know the gateway) fails with exit status 1 (push_refused) and leaves the
registration as it was.

"push remove" removes the registration: no more wake-ups.`,
	setup: func(fs *flag.FlagSet) runner {
		webPush := fs.String("web-push", "", "Web Push endpoint `URL`")
		p256dh := fs.String("p256dh", "", "the subscription's P-256 key, `base64`url")
		auth := fs.String("auth", "", "the subscription's authentication secret, `base64`url")
		gateway := fs.String("gateway", "", "push gateway `URL`")
		token := fs.String("token", "", "the device's gateway token, `base64`url")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) == 0 {
				return usagef("want a subcommand: info, set or remove")
			}
			sub, rest := args[0], args[1:]
			if err := wantArgs(rest, 0, ""); err != nil {
				return err
			}
			targetFlags := *webPush != "" || *p256dh != "" || *auth != "" || *gateway != "" || *token != ""
			switch sub {
			case "info":
				if targetFlags {
					return usagef("push info takes no target flags")
				}
				return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
					info, err := c.PushInfo(ctx)
					if err != nil {
						return err
					}
					a.printPushInfo(info)
					return nil
				})
			case "set":
				t, err := pushTarget(*webPush, *p256dh, *auth, *gateway, *token)
				if err != nil {
					return err
				}
				return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
					if err := c.SetPush(ctx, t); err != nil {
						return err
					}
					if a.json {
						a.emit(struct {
							Push string `json:"push"`
						}{"registered"})
					} else {
						a.printf("Registered the %s target: the relay wakes this device when mail comes while it is away.\n", t.Kind)
					}
					return nil
				})
			case "remove":
				if targetFlags {
					return usagef("push remove takes no target flags")
				}
				return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
					if err := c.SetPush(ctx, nil); err != nil {
						return err
					}
					if a.json {
						a.emit(struct {
							Push string `json:"push"`
						}{"removed"})
					} else {
						a.printf("Removed the push target: no more wake-ups.\n")
					}
					return nil
				})
			}
			return usagef("unknown push subcommand %q (want: info, set or remove)", sub)
		}
	},
}

// pushTarget builds the target of push set from its flags.
func pushTarget(webPush, p256dh, auth, gateway, token string) (*client.PushTarget, error) {
	switch {
	case webPush != "" && gateway == "" && token == "":
		k, err := decodeB64("--p256dh", p256dh)
		if err != nil {
			return nil, err
		}
		s, err := decodeB64("--auth", auth)
		if err != nil {
			return nil, err
		}
		return &client.PushTarget{Kind: client.PushWebPush, Endpoint: webPush, P256dh: k, Auth: s}, nil
	case gateway != "" && webPush == "" && p256dh == "" && auth == "":
		tok, err := decodeB64("--token", token)
		if err != nil {
			return nil, err
		}
		return &client.PushTarget{Kind: client.PushGateway, Endpoint: gateway, Token: tok}, nil
	}
	return nil, usagef("push set wants --web-push URL --p256dh B64 --auth B64, or --gateway URL --token B64")
}

// decodeB64 decodes a flag's base64url value (padding optional; the
// standard alphabet accepted too).
func decodeB64(flag, s string) ([]byte, error) {
	if s == "" {
		return nil, usagef("%s is required", flag)
	}
	s = strings.TrimRight(s, "=")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, usagef("%s: not base64url", flag)
	}
	return b, nil
}

type jsonPushInfo struct {
	VAPIDPublicKey string   `json:"vapid_public_key,omitempty"`
	Gateways       []string `json:"gateways"`
	WakeIntervalMs int64    `json:"wake_interval_ms"`
}

func (a *app) printPushInfo(info *client.PushInfo) {
	key := ""
	if info.VAPIDPublicKey != nil {
		key = base64.RawURLEncoding.EncodeToString(info.VAPIDPublicKey)
	}
	if a.json {
		a.emit(jsonPushInfo{VAPIDPublicKey: key, Gateways: append([]string{}, info.Gateways...), WakeIntervalMs: info.WakeInterval.Milliseconds()})
		return
	}
	if info.WakeInterval == 0 {
		a.printf("This relay sends no wake-ups.\n")
		return
	}
	if key != "" {
		a.printf("Web Push: yes, VAPID public key %s\n", key)
	} else {
		a.printf("Web Push: no\n")
	}
	if len(info.Gateways) == 0 {
		a.printf("Gateways: none\n")
	}
	for _, g := range info.Gateways {
		a.printf("Gateway: %s\n", g)
	}
	a.printf("Wake-ups: at most one every %v\n", info.WakeInterval.Round(time.Millisecond))
}
