// Command sealpost-bench is the relay's load tool.
//
// It opens N authenticated device connections over TLS 1.3 to a relay,
// sends M envelopes of S bytes between them (each to a random device among
// the N), flat out or at a target rate, receives and acks them, and prints
// the delivered-and-acked envelopes per second, the end-to-end latency
// (p50, p90, p99, p99.9, max; the send time travels in the envelope bytes) and the
// errors by kind. --json prints the same as one JSON object.
//
// The load's connections are lean on purpose (lconn.go): the tool runs
// beside the relay it measures and should leave it the CPU.
//
// Against a running sealpostd, it mints the devices' access tokens with the
// key server's token key (token-key.pem in sealpostd's data directory) for
// audience relay:<name>:
//
//	sealpost-bench --url wss://127.0.0.1:8443/v1/relay \
//	    --pin <fingerprint sealpostd printed> --token-key sealpost-data/token-key.pem
//
// With --self sqlite (or --self postgres --postgres DSN) it starts its own
// relay in-process on a temporary store, with a self-signed certificate and
// a fresh token key, and measures that.
//
// --idle K then opens K more authenticated connections that stay idle and
// reports the memory each costs. With --self the relay then runs as a
// child process and the figures are its own (heap, stacks, goroutines and
// RSS per connection, docs/performance.md, "Idle connections"):
//
//	sealpost-bench --self sqlite --envelopes 0 --devices 1 --idle 19000
//
// --ephemeral (with --self) measures ephemeral sends instead
// (spec/relay.md §7.4): the relay runs as a child process, and the tool
// reports the items received per second, the drops and the relay's CPU
// time per item:
//
//	sealpost-bench --self sqlite --ephemeral --devices 100 --envelopes 100000 --rate 10000
//
// --anonymous (with --self) sends on anonymous connections instead, each
// Send paid with a send token the key server issued before the timed part
// (spec/relay.md §15); the relay runs as a child process beside a key
// server and the report adds its CPU time per envelope.
// --compare-anonymous runs the authenticated load first against the same
// relay and prints both, with the ratios:
//
//	sealpost-bench --self sqlite --compare-anonymous --devices 50 --envelopes 20000 --batch 1
//
// --shared makes each Send a shared send (spec/relay.md §16): one body to
// --batch distinct devices, a group message to that many member devices;
// every device sends, so --devices 1000 --batch 1000 is a 1000-member group
// (one device each) in which everyone talks:
//
//	sealpost-bench --self sqlite --shared --devices 1000 --batch 1000 --envelopes 200000
//
// --fanout N measures the latency of a group message instead (fanout.go):
// one sender sends --fanout-messages shared sends (after --fanout-warmup
// more), one every --fanout-interval, each to N recipient devices on
// connections of their own; a sample is the time from the Send to one
// device's Delivery:
//
//	sealpost-bench --self sqlite --fanout 1000 --fanout-messages 30 --fanout-interval 200ms
//
// --herd N (with --self) measures reconnects instead: N connections, each
// with the client library's reconnect delays (spec/relay.md §2.5), the
// relay stopped for --down and started again on the same address
// --restarts times; it reports when the clients came back and the relay's
// busiest 100 ms.
//
// --senders S --receivers R: S connections only send, each Send to a
// random one of R connections that only receive (without them, every one
// of --devices sends and receives). --relay-child (with --self) runs the
// relay as a child process and reports its CPU time per envelope apart
// from the tool's own; --server-pid does the same for any server process.
//
// --mqtt HOST:PORT loads an MQTT 3.1.1 broker instead (mqtt.go,
// mqttload.go): --senders publishers, --receivers subscribers, QoS 1,
// persistent sessions, the same message size, in-flight window, pacing and
// latency measure; bench/compare.sh runs both side by side:
//
//	sealpost-bench --self sqlite --relay-child --senders 4 --receivers 4 --envelopes 50000
//	sealpost-bench --mqtt 127.0.0.1:1883 --mqtt-tls --ca cert.pem --senders 4 --receivers 4 --server-pid 1234
//
// --push N (with --self) measures what push wake-ups cost envelope storage
// (push.go): N offline devices with Web Push registrations at an
// in-process push service, one envelope for one of them in every Send;
// --push-register=false is the control, the same envelopes and no
// wake-ups:
//
//	sealpost-bench --self sqlite --devices 8 --envelopes 60000 --push 1000 --push-interval 1s
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/wire"
	"github.com/sealpost/sealpost/tlsconfig"
)

type options struct {
	url      string
	pin      string
	ca       string
	tokenKey string
	name     string

	self     string
	postgres string

	devices    int
	envelopes  int
	size       int
	rate       float64
	inflight   int
	batch      int
	timeout    time.Duration
	idle       int
	metrics    string // the relay's admin /metrics URL, for --idle against a running relay
	jsonOut    bool
	dialConc   int
	cpuProfile string

	herd          int           // --herd: connections whose reconnects are measured
	restarts      int           // relay restarts of --herd
	down          time.Duration // how long the relay stays down
	drop          bool          // cut the connections instead of shutting down
	reconnectRate int           // the in-process relay's ReconnectRate for --herd

	ephemeral       bool     // --ephemeral: measure ephemeral sends (spec/relay.md §7.4)
	relayProfile    string   // CPU profile of the relay child (--ephemeral, --herd)
	relayProcs      int      // GOMAXPROCS of the relay child, 0 for Go's default
	relayMemProfile string   // heap profile of the relay child with the --idle connections open
	sourceIPs       []net.IP // --source-ips: the --idle connections' source addresses

	anonymous bool // --anonymous: Sends on anonymous connections, paid with send tokens (spec/relay.md §15)
	shared    bool // --shared: each Send is a shared send of one body to --batch distinct devices (spec/relay.md §16)
	compare   bool // --compare-anonymous: an authenticated run, then an anonymous one

	push         int           // --push: offline devices, each sent one envelope per Send (push.go)
	pushRegister bool          // --push-register: they have a Web Push registration (false: the control)
	pushInterval time.Duration // the relay's PushConfig.Interval
	pushLatency  time.Duration // the push service's answer delay
	pushHang     float64       // fraction of wake-ups the push service never answers

	senders        int           // --senders: connections that only send, to random --receivers (0: every device sends and receives)
	receivers      int           // --receivers: connections that only receive
	relayChild     bool          // --relay-child: the --self relay runs as a child process whose CPU is measured
	serverPID      int           // --server-pid: a server process whose CPU is measured over the timed part
	mqtt           string        // --mqtt: HOST:PORT of an MQTT 3.1.1 broker to load instead of a relay (mqtt.go)
	mqttTLS        bool          // --mqtt-tls: over TLS 1.3, trusting --pin or --ca
	fanout         int           // --fanout: recipient devices of one sender's group messages (fanout.go)
	fanoutMessages int           // messages measured
	fanoutWarmup   int           // messages sent first and not counted
	fanoutInterval time.Duration // time between two messages
	fanoutTrace    string        // execution trace of the timed part (go tool trace)
}

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(relayChild(spec, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("sealpost-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "wss://127.0.0.1:8443/v1/relay", "relay WebSocket `URL`")
	fs.StringVar(&o.pin, "pin", "", "SHA-256 `fingerprint` of the relay's certificate (what sealpostd prints)")
	fs.StringVar(&o.ca, "ca", "", "PEM certificate `file` to trust instead of pinning (e.g. sealpost-data/tls-cert.pem)")
	fs.StringVar(&o.tokenKey, "token-key", "", "the key server's token signing key `file` (token-key.pem in sealpostd's data directory)")
	fs.StringVar(&o.name, "name", "localhost", "server `name`: tokens are for audience relay:<name>")
	fs.StringVar(&o.self, "self", "", "start an in-process relay on a temporary `store`: sqlite or postgres")
	fs.StringVar(&o.postgres, "postgres", "", "PostgreSQL connection `string` for --self postgres")
	fs.IntVar(&o.devices, "devices", 100, "authenticated device connections that send and receive")
	fs.IntVar(&o.envelopes, "envelopes", 100000, "envelopes to send in all")
	fs.IntVar(&o.size, "size", 1024, "envelope size, `bytes` (at least 16)")
	fs.Float64Var(&o.rate, "rate", 0, "target envelopes per second (0: flat out)")
	fs.IntVar(&o.inflight, "inflight", 8, "sends in flight per device")
	fs.IntVar(&o.batch, "batch", 1, "envelopes per Send frame, each to a random device")
	fs.BoolVar(&o.shared, "shared", false, "group mode: each Send is a shared send (spec/relay.md §16) of one body to --batch distinct devices, as a group message to that many member devices")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long to wait for deliveries after the last send")
	fs.IntVar(&o.idle, "idle", 0, "extra idle authenticated connections to open, to measure memory per connection")
	fs.StringVar(&o.metrics, "metrics", "", "the relay's admin `URL` of /metrics, e.g. http://127.0.0.1:9090/metrics (sealpostd --admin-listen); needed for --idle against a running sealpostd")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	fs.IntVar(&o.dialConc, "dial-concurrency", 64, "connections opened at once")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to `file`")
	fs.IntVar(&o.herd, "herd", 0, "reconnect mode (needs --self): open `N` connections, restart the relay --restarts times and report when they came back")
	fs.IntVar(&o.restarts, "restarts", 1, "relay restarts of --herd")
	fs.DurationVar(&o.down, "down", 3*time.Second, "how long the relay stays down in each --herd restart")
	fs.BoolVar(&o.drop, "drop", false, "--herd: cut every connection as a crash would, instead of a graceful shutdown")
	fs.IntVar(&o.reconnectRate, "reconnect-rate", relay.DefaultReconnectRate, "--herd: the in-process relay's reconnect rate, upgrades admitted per second (spec/relay.md §2.5)")
	fs.StringVar(&o.relayProfile, "relay-cpuprofile", "", "--ephemeral, --herd, --anonymous, --relay-child: write a CPU profile of the relay child process to `file`")
	fs.StringVar(&o.relayMemProfile, "relay-memprofile", "", "--self --idle: write a heap profile of the relay child process, taken with the idle connections open, to `file`")
	fs.Func("source-ips", "--idle: source `addresses` of the idle connections, in turn: a comma-separated list, or ranges such as 127.0.0.1-127.0.0.4 (each address has about 28,000 ephemeral ports towards one relay address)", func(v string) (err error) {
		o.sourceIPs, err = parseIPs(v)
		return err
	})
	fs.IntVar(&o.relayProcs, "relay-gomaxprocs", 0, "--ephemeral, --herd, --anonymous, --relay-child: GOMAXPROCS of the relay child process (0: Go's default, the CPUs available)")
	fs.BoolVar(&o.ephemeral, "ephemeral", false, "ephemeral mode (needs --self): --devices receivers and as many senders, --envelopes ephemeral items of --size bytes at --rate; reports received/s, drops and the relay process's CPU per item")
	fs.BoolVar(&o.anonymous, "anonymous", false, "anonymous mode (needs --self): the relay runs as a child process with a key server beside it, which issues one send token per Send before the timed part; --devices authenticated connections receive and as many anonymous connections send, each Send paid with a token; reports the relay process's CPU per envelope")
	fs.BoolVar(&o.compare, "compare-anonymous", false, "as --anonymous, after the same load on authenticated connections against the same relay child: prints both, and the ratios")
	fs.IntVar(&o.push, "push", 0, "push mode (needs --self): `N` offline devices, each with a Web Push registration at an in-process push service; every Send carries one more envelope, to a random one of them, which the relay owes a wake-up")
	fs.BoolVar(&o.pushRegister, "push-register", true, "--push: register the offline devices' Web Push subscriptions (false: the control, the same envelopes and no wake-ups)")
	fs.DurationVar(&o.pushInterval, "push-interval", relay.DefaultWakeInterval, "--push: the relay's least time between two wake-ups of one device")
	fs.DurationVar(&o.pushLatency, "push-latency", 0, "--push: how long the push service takes to answer each wake-up")
	fs.Float64Var(&o.pushHang, "push-hang", 0, "--push: `fraction` of wake-ups the push service never answers (the relay's timeout ends them)")
	fs.IntVar(&o.senders, "senders", 0, "`S` authenticated connections that only send, each Send to a random one of --receivers (with --receivers; instead of --devices, where every device sends and receives)")
	fs.IntVar(&o.receivers, "receivers", 0, "`R` authenticated connections that only receive (with --senders)")
	fs.BoolVar(&o.relayChild, "relay-child", false, "with --self: run the relay as a child process and report its CPU time per envelope apart from the tool's own")
	fs.IntVar(&o.serverPID, "server-pid", 0, "report the CPU time per envelope of the server process `PID` (a running sealpostd, or the --mqtt broker) over the timed part")
	fs.StringVar(&o.mqtt, "mqtt", "", "MQTT mode: load the MQTT 3.1.1 broker at `HOST:PORT` instead of a relay: --senders publishers and --receivers subscribers, QoS 1, persistent sessions")
	fs.BoolVar(&o.mqttTLS, "mqtt-tls", false, "--mqtt: connect over TLS 1.3, trusting --ca or --pin")
	fs.IntVar(&o.fanout, "fanout", 0, "fan-out mode: one sender sends group messages (shared sends, spec/relay.md §16) to `N` recipient devices, each on its own connection; reports the latency from the Send to each device's Delivery")
	fs.IntVar(&o.fanoutMessages, "fanout-messages", 30, "--fanout: messages measured")
	fs.IntVar(&o.fanoutWarmup, "fanout-warmup", 3, "--fanout: messages sent first and not counted")
	fs.DurationVar(&o.fanoutInterval, "fanout-interval", 200*time.Millisecond, "--fanout: time between two messages")
	fs.StringVar(&o.fanoutTrace, "fanout-trace", "", "--fanout: write an execution trace of the messages to `file` (go tool trace; with --self it shows the relay's scheduling)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "sealpost-bench: %v\n", err)
		return 2
	}
	raiseFileLimit(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "sealpost-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "sealpost-bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench(ctx, &o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sealpost-bench: %v\n", err)
		return 1
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.print(stdout)
	}
	if rep.Lost > 0 || rep.Authenticated != nil && rep.Authenticated.Lost > 0 || rep.Ephemeral != nil && rep.Ephemeral.Received == 0 {
		return 1
	}
	return 0
}

func (o *options) validate() error {
	var errs []error
	if o.mqtt != "" {
		return o.validateMQTT()
	}
	if o.mqttTLS {
		errs = append(errs, errors.New("--mqtt-tls: needs --mqtt"))
	}
	switch o.self {
	case "":
		if o.tokenKey == "" {
			errs = append(errs, errors.New("--token-key is required (or --self)"))
		}
		if (o.pin == "") == (o.ca == "") {
			errs = append(errs, errors.New("give one of --pin and --ca (or --self)"))
		}
	case "sqlite":
	case "postgres":
		if o.postgres == "" {
			errs = append(errs, errors.New("--self postgres needs --postgres"))
		}
	default:
		errs = append(errs, fmt.Errorf("--self %q: want sqlite or postgres", o.self))
	}
	if o.devices < 1 {
		errs = append(errs, errors.New("--devices: at least 1"))
	}
	if o.envelopes < 0 || o.idle < 0 {
		errs = append(errs, errors.New("--envelopes and --idle: not negative"))
	}
	if o.size < minEnvelope {
		errs = append(errs, fmt.Errorf("--size: at least %d", minEnvelope))
	}
	if o.rate < 0 {
		errs = append(errs, errors.New("--rate: not negative"))
	}
	if o.inflight < 1 || o.dialConc < 1 {
		errs = append(errs, errors.New("--inflight and --dial-concurrency: at least 1"))
	}
	if o.herd < 0 || (o.herd > 0 && o.self == "") {
		errs = append(errs, errors.New("--herd: needs --self (the tool restarts its own relay)"))
	}
	if o.restarts < 1 || o.down < 0 || o.reconnectRate < 1 {
		errs = append(errs, errors.New("--restarts and --reconnect-rate: at least 1; --down: not negative"))
	}
	if o.ephemeral && (o.self == "" || o.herd > 0 || o.idle > 0) {
		errs = append(errs, errors.New("--ephemeral: needs --self (the relay runs as a child process whose CPU is measured), not with --herd or --idle"))
	}
	if o.ephemeral && o.size > relay.MaxEphemeralEnvelopeCap {
		errs = append(errs, fmt.Errorf("--ephemeral: --size at most %d", relay.MaxEphemeralEnvelopeCap))
	}
	if (o.anonymous || o.compare) && (o.self == "" || o.herd > 0 || o.idle > 0 || o.ephemeral) {
		errs = append(errs, errors.New("--anonymous, --compare-anonymous: need --self (the relay and its key server run as a child process whose CPU is measured), not with --herd, --idle or --ephemeral"))
	}
	if o.relayProcs < 0 {
		errs = append(errs, errors.New("--relay-gomaxprocs: not negative"))
	}
	switch {
	case o.shared && (o.batch < 1 || o.batch > wire.MaxSharedRecipients || o.batch > o.devices):
		errs = append(errs, fmt.Errorf("--batch with --shared: 1 to %d, and at most --devices", wire.MaxSharedRecipients))
	case !o.shared && (o.batch < 1 || o.batch > 1000):
		errs = append(errs, errors.New("--batch: 1 to 1000"))
	}
	if o.shared && (o.ephemeral || o.herd > 0) {
		errs = append(errs, errors.New("--shared: not with --ephemeral or --herd"))
	}
	if o.push < 0 || o.push > 0 && (o.self == "" || o.herd > 0 || o.ephemeral || o.anonymous || o.compare || o.shared) {
		errs = append(errs, errPushFlags)
	}
	if o.push > 0 && o.batch >= wire.MaxItems {
		errs = append(errs, fmt.Errorf("--push: --batch at most %d (each Send carries one more envelope)", wire.MaxItems-1))
	}
	if o.pushInterval < 10*time.Millisecond || o.pushLatency < 0 || o.pushHang < 0 || o.pushHang > 1 {
		errs = append(errs, errors.New("--push-interval: at least 10ms; --push-latency: not negative; --push-hang: 0 to 1"))
	}
	if (o.senders > 0) != (o.receivers > 0) || o.senders < 0 || o.receivers < 0 {
		errs = append(errs, errors.New("--senders and --receivers: both at least 1, or neither"))
	}
	if o.senders > 0 && (o.shared || o.push > 0 || o.anonymous || o.compare || o.ephemeral || o.herd > 0) {
		errs = append(errs, errors.New("--senders, --receivers: not with --shared, --push, --anonymous, --compare-anonymous, --ephemeral or --herd"))
	}
	if o.relayChild && (o.self == "" || o.idle > 0 || o.push > 0 || o.herd > 0 || o.ephemeral || o.anonymous || o.compare) {
		errs = append(errs, errors.New("--relay-child: needs --self, not with --idle, --push, --herd, --ephemeral or --anonymous (those choose where the relay runs)"))
	}
	if o.serverPID < 0 || o.serverPID > 0 && (o.self != "" || o.idle > 0) {
		errs = append(errs, errors.New("--server-pid: a running server's process, not with --self or --idle"))
	}
	if o.fanout < 0 || o.fanout > wire.MaxSharedRecipients || o.fanout > 0 && (o.fanoutMessages < 1 || o.fanoutWarmup < 0 || o.fanoutInterval <= 0) {
		errs = append(errs, fmt.Errorf("--fanout: 0 to %d; --fanout-messages: at least 1; --fanout-warmup: not negative; --fanout-interval: positive", wire.MaxSharedRecipients))
	}
	if o.fanout > 0 && (o.herd > 0 || o.ephemeral || o.anonymous || o.compare || o.push > 0 || o.idle > 0 || o.senders > 0 || o.mqtt != "" || o.relayChild) {
		errs = append(errs, errors.New("--fanout: not with --herd, --ephemeral, --anonymous, --compare-anonymous, --push, --idle, --senders, --mqtt or --relay-child"))
	}
	return errors.Join(errs...)
}

// target is where and how to connect.
type target struct {
	url      string
	tls      *tls.Config
	key      ed25519.PrivateKey
	audience string
	metrics  string // https URL of /metrics, "" for an in-process relay
}

// clientTLS returns the TLS configuration --pin or --ca ask for.
func clientTLS(o *options) (*tls.Config, error) {
	if o.pin != "" {
		fp, err := tlsconfig.ParseFingerprint(o.pin)
		if err != nil {
			return nil, err
		}
		return tlsconfig.ClientConfig(fp), nil
	}
	pemData, err := os.ReadFile(o.ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("%s: no PEM certificate", o.ca)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}, nil
}

// raiseFileLimit raises the soft limit on open files to the hard limit:
// every connection is a file descriptor (two with --self).
func raiseFileLimit(stderr io.Writer) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			fmt.Fprintf(stderr, "sealpost-bench: cannot raise the open files limit: %v\n", err)
		}
	}
}
