package client

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"

	"github.com/sealpost/sealpost/client/internal/ksclient"
	"github.com/sealpost/sealpost/keyserver/kt"
)

// serverTrustConfig is what a Client and a DirectoryAuditor are told
// about the key server: where it is, how to trust its TLS certificate,
// its directory log key and name, and the witnesses whose cosignatures
// its checkpoints need (spec/client.md §6.1).
type serverTrustConfig struct {
	keyServer, caFile, pin string
	logKey, name           string
	witnesses              []string
	quorum                 int
	dial                   DialFunc
}

// serverTrust is a checked serverTrustConfig: the key server client, set
// to hold the server to the log key, name and witnesses.
type serverTrust struct {
	tls  *tls.Config
	ks   *ksclient.Client
	name string // the key server's name: from the log key, else as given
}

// newServerTrust checks cfg and builds the key server client; it returns
// every problem found, in the words of Config's field names.
func newServerTrust(cfg serverTrustConfig) (*serverTrust, []error) {
	var problems []error
	ksURL, err := url.Parse(cfg.keyServer)
	if err != nil || ksURL.Scheme != "https" || ksURL.Host == "" || (ksURL.Path != "" && ksURL.Path != "/") || ksURL.RawQuery != "" {
		problems = append(problems, fmt.Errorf("client: Config.KeyServer %q: want https://HOST[:PORT]", cfg.keyServer))
	}
	var tlsCfg *tls.Config
	if ps := platformProblems(cfg); len(ps) > 0 {
		problems = append(problems, ps...)
	} else if tlsCfg, err = trustConfig(cfg.caFile, cfg.pin); err != nil {
		problems = append(problems, err)
	}
	name := cfg.name
	if cfg.logKey != "" {
		n, err := logName(cfg.logKey)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("client: Config.LogKey: %w", err))
		case name != "" && name != n:
			problems = append(problems, fmt.Errorf("client: Config.KeyServerName %q is not the name in Config.LogKey (%q)", name, n))
		default:
			name = n
		}
	}
	var witnesses []kt.Witness
	for _, vk := range cfg.witnesses {
		w, err := kt.ParseWitness(vk)
		if err != nil {
			problems = append(problems, fmt.Errorf("client: Config.Witnesses %q: %w", vk, err))
		}
		witnesses = append(witnesses, w)
	}
	quorum := cfg.quorum
	if quorum == 0 {
		quorum = len(witnesses)
	}
	if len(cfg.witnesses) == 0 && cfg.quorum != 0 {
		problems = append(problems, fmt.Errorf("client: Config.WitnessQuorum %d without Config.Witnesses", cfg.quorum))
	}
	if len(problems) > 0 {
		return nil, problems
	}
	ks, err := ksclient.New(strings.TrimSuffix(cfg.keyServer, "/"), tlsCfg)
	if err != nil {
		return nil, []error{fmt.Errorf("client: %w", err)}
	}
	if cfg.dial != nil {
		if err := ks.SetDial(cfg.dial); err != nil {
			return nil, []error{fmt.Errorf("client: Config.Dial: %w", err)}
		}
	}
	if len(witnesses) > 0 {
		if err := ks.RequireWitnesses(witnesses, quorum); err != nil {
			return nil, []error{fmt.Errorf("client: Config.Witnesses, Config.WitnessQuorum: %w", err)}
		}
	}
	if cfg.logKey != "" {
		ks.Expect(name, cfg.logKey)
	}
	return &serverTrust{tls: tlsCfg, ks: ks, name: name}, nil
}
