package main

import (
	"log/slog"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/relay/tokenkeys"
)

// relaySendTokens returns the relay's send-token verifier (spec/relay.md
// §15.9) and says where it reads the issuer keys: "in-process" (the key
// server of this process), the key server's URL (the relay alone, with
// the TLS trust of the revocation feed), or "off" (--relay-anonymous=false,
// or the relay alone with --relay-keyserver-url off): then the verifier is
// nil and the relay refuses anonymous connections (anonymous_disabled).
// The tokens' issuer is --name, the key server's name. Run the verifier's
// Run to keep its keys current.
func relaySendTokens(cfg *Config, ks *keyserver.Server, log *slog.Logger) (*tokenkeys.Verifier, string, error) {
	if !cfg.RelayAnonymous {
		return nil, "off", nil
	}
	var src tokenkeys.Source
	where := "in-process"
	switch {
	case ks != nil:
		src = ks
	case cfg.RelayKeyServerURL == feedOff:
		return nil, "off", nil
	default:
		hc, err := keyServerClient(cfg)
		if err != nil {
			return nil, "", err
		}
		if src, err = tokenkeys.NewHTTPSource(cfg.RelayKeyServerURL, hc); err != nil {
			return nil, "", err
		}
		where = cfg.RelayKeyServerURL
	}
	v, err := tokenkeys.New(tokenkeys.Config{Source: src, Issuer: cfg.Name, Logger: log.With("service", "relay")})
	if err != nil {
		return nil, "", err
	}
	return v, where, nil
}
