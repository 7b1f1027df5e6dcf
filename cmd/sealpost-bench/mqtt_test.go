package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/tlsconfig"
)

// The Remaining Length table of MQTT 3.1.1 §2.2.3 (Table 2.4): the
// smallest and largest value of each length.
var remainingLengths = []struct {
	n   int
	enc []byte
}{
	{0, []byte{0x00}},
	{127, []byte{0x7F}},
	{128, []byte{0x80, 0x01}},
	{16_383, []byte{0xFF, 0x7F}},
	{16_384, []byte{0x80, 0x80, 0x01}},
	{2_097_151, []byte{0xFF, 0xFF, 0x7F}},
	{2_097_152, []byte{0x80, 0x80, 0x80, 0x01}},
	{268_435_455, []byte{0xFF, 0xFF, 0xFF, 0x7F}},
}

func TestMQTTRemainingLength(t *testing.T) {
	for _, tc := range remainingLengths {
		if got := appendRemainingLength(nil, tc.n); !bytes.Equal(got, tc.enc) {
			t.Errorf("%d: % X, want % X", tc.n, got, tc.enc)
		}
		// Decoded by readMQTT in a PINGRESP-typed header with a short
		// body: it reads the length and then wants that many bytes.
		if tc.n > 1000 {
			continue
		}
		pkt := append(append([]byte{0xD0}, tc.enc...), make([]byte, tc.n)...)
		h, body, err := readMQTT(bufio.NewReader(bytes.NewReader(pkt)), nil, 1<<20)
		if err != nil || h != 0xD0 || len(body) != tc.n {
			t.Errorf("%d: read %#x, %d bytes, %v", tc.n, h, len(body), err)
		}
	}
	// A fifth length byte is malformed (§2.2.3: at most four).
	_, _, err := readMQTT(bufio.NewReader(bytes.NewReader([]byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})), nil, mqttMaxRemaining)
	if !errors.Is(err, errMQTT) {
		t.Errorf("five length bytes: %v", err)
	}
	// Longer than the reader's bound.
	_, _, err = readMQTT(bufio.NewReader(bytes.NewReader([]byte{0x30, 0x80, 0x01})), nil, 127)
	if !errors.Is(err, errMQTT) {
		t.Errorf("packet over the bound: %v", err)
	}
}

func TestMQTTEncode(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		// §3.1: "MQTT", level 4, flags 0 (clean session 0), keep alive
		// 60, client id "ab".
		{"connect", appendConnect(nil, "ab", false, 60),
			[]byte{0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x3C, 0x00, 0x02, 'a', 'b'}},
		{"connect clean", appendConnect(nil, "ab", true, 10),
			[]byte{0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x0A, 0x00, 0x02, 'a', 'b'}},
		// §3.3.2.3, Figure 3.11: topic "a/b", packet identifier 10.
		{"publish", appendPublish(nil, []byte("a/b"), 10, []byte("hi")),
			[]byte{0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'}},
		// §3.8.1: flags 0010; §3.8.3: filter "a/b", requested QoS 1.
		{"subscribe", appendSubscribe(nil, 10, "a/b", 1),
			[]byte{0x82, 0x08, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x01}},
		{"puback", appendPuback(nil, 0x1234), []byte{0x40, 0x02, 0x12, 0x34}},
		{"pingreq", appendPingreq(nil), []byte{0xC0, 0x00}},
		{"disconnect", appendDisconnect(nil), []byte{0xE0, 0x00}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s: % X, want % X", tc.name, tc.got, tc.want)
		}
	}
	// A payload past 127 bytes takes two length bytes.
	big := appendPublish(nil, []byte("t"), 1, make([]byte, 200))
	if !bytes.Equal(big[:3], []byte{0x32, 0xCD, 0x01}) || len(big) != 3+3+2+200 {
		t.Errorf("publish of 200 bytes: % X ...", big[:3])
	}
}

func TestMQTTDecode(t *testing.T) {
	read := func(pkt []byte) (byte, []byte) {
		t.Helper()
		h, b, err := readMQTT(bufio.NewReader(bytes.NewReader(pkt)), nil, 1<<20)
		if err != nil {
			t.Fatalf("% X: %v", pkt, err)
		}
		return h, b
	}
	// PUBLISH at QoS 1, as appendPublish wrote it above.
	h, b := read([]byte{0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'})
	topic, id, payload, err := parsePublish(h&0x0F, b)
	if h>>4 != mqttPublish || string(topic) != "a/b" || id != 10 || string(payload) != "hi" || err != nil {
		t.Errorf("publish: %#x %q %d %q %v", h, topic, id, payload, err)
	}
	// At QoS 0 there is no packet identifier (§3.3.2.2).
	topic, id, payload, err = parsePublish(0, []byte{0x00, 0x03, 'a', '/', 'b', 'h', 'i'})
	if string(topic) != "a/b" || id != 0 || string(payload) != "hi" || err != nil {
		t.Errorf("publish QoS 0: %q %d %q %v", topic, id, payload, err)
	}
	for _, bad := range []struct {
		flags byte
		b     []byte
	}{
		{0x02, []byte{0x00}},                        // no topic length
		{0x02, []byte{0x00, 0x05, 'a', '/', 'b'}},   // topic past the end
		{0x02, []byte{0x00, 0x03, 'a', '/', 'b'}},   // no packet identifier
		{0x02, []byte{0x00, 0x01, 'a', 0x00, 0x00}}, // packet identifier 0 (§2.3.1)
		{0x06, []byte{0x00, 0x01, 'a', 0x00, 0x01}}, // QoS 3 (§3.3.1.2)
	} {
		if _, _, _, err := parsePublish(bad.flags, bad.b); !errors.Is(err, errMQTT) {
			t.Errorf("publish %#x % X: %v", bad.flags, bad.b, err)
		}
	}
	// CONNACK (§3.2): accepted, refused (5: not authorized), malformed.
	if _, b := read([]byte{0x20, 0x02, 0x00, 0x00}); parseConnack(b) != nil {
		t.Error("connack 0 refused")
	}
	if _, b := read([]byte{0x20, 0x02, 0x01, 0x00}); parseConnack(b) != nil {
		t.Error("connack with session present refused")
	}
	if err := parseConnack([]byte{0x00, 0x05}); err == nil || !strings.Contains(err.Error(), "return code 5") {
		t.Errorf("connack 5: %v", err)
	}
	if err := parseConnack([]byte{0x00}); !errors.Is(err, errMQTT) {
		t.Errorf("short connack: %v", err)
	}
	// SUBACK (§3.9): QoS 1 granted for packet 10; 0x80 is a failure.
	if _, b := read([]byte{0x90, 0x03, 0x00, 0x0A, 0x01}); parseSuback(b, 10) != nil {
		t.Error("suback refused")
	}
	if parseSuback([]byte{0x00, 0x0A, 0x80}, 10) == nil || parseSuback([]byte{0x00, 0x0A, 0x00}, 10) == nil || parseSuback([]byte{0x00, 0x0B, 0x01}, 10) == nil {
		t.Error("failed, downgraded or mismatched suback accepted")
	}
	// PUBACK (§3.4).
	if _, b := read([]byte{0x40, 0x02, 0x12, 0x34}); true {
		if id, err := parsePuback(b); id != 0x1234 || err != nil {
			t.Errorf("puback: %#x %v", id, err)
		}
	}
	if _, err := parsePuback([]byte{0x00}); !errors.Is(err, errMQTT) {
		t.Errorf("short puback: %v", err)
	}
}

// startMosquitto starts a Mosquitto of the test's own (never a system
// one) on a free loopback port with persistence on, and, with tlsDir, a
// TLS listener too with the certificate there. It returns the plain
// address, the TLS one and the broker's process id.
func startMosquitto(t *testing.T, tlsDir string) (plain, tlsAddr string, pid int) {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, err2 := os.Stat(p); err2 == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("SEALPOST_REQUIRE_MOSQUITTO") != "" {
			t.Fatalf("SEALPOST_REQUIRE_MOSQUITTO is set and there is no mosquitto: %v", err)
		}
		t.Skip("no mosquitto binary (install it, or set SEALPOST_REQUIRE_MOSQUITTO to fail instead)")
	}
	dir := t.TempDir()
	free := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	port := free()
	// user: a broker started as root otherwise drops to user mosquitto,
	// who cannot read the test's files.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("user %s\nper_listener_settings false\nallow_anonymous true\npersistence true\npersistence_location %s/\n"+
		"max_inflight_messages 0\nmax_queued_messages 0\nlistener %d 127.0.0.1\n", me.Username, dir, port)
	plain = "127.0.0.1:" + strconv.Itoa(port)
	if tlsDir != "" {
		tport := free()
		conf += fmt.Sprintf("listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\ntls_version tlsv1.3\n",
			tport, filepath.Join(tlsDir, tlsconfig.CertFile), filepath.Join(tlsDir, tlsconfig.KeyFile))
		tlsAddr = "127.0.0.1:" + strconv.Itoa(tport)
	}
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "-c", cf)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for _, a := range []string{plain, tlsAddr} {
		if a == "" {
			continue
		}
		for deadline := time.Now().Add(10 * time.Second); ; {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("mosquitto does not listen on %s: %v\n%s", a, err, log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return plain, tlsAddr, cmd.Process.Pid
}

// TestMQTTMosquitto loads a real Mosquitto, plain and over TLS 1.3: every
// message published is acknowledged, delivered and acknowledged again,
// and the broker's CPU is measured.
func TestMQTTMosquitto(t *testing.T) {
	certDir := t.TempDir()
	cert, _, err := tlsconfig.LoadOrCreate(certDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, tlsAddr, pid := startMosquitto(t, certDir)
	pin := tlsconfig.FingerprintOf(cert.Certificate[0]).String()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain", []string{"--mqtt", plain}},
		{"tls", []string{"--mqtt", tlsAddr, "--mqtt-tls", "--pin", pin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: the second run's clients find the sessions the first
			// left and start clean.
			for range 2 {
				rep := runBench(t, append(tc.args, "--senders", "3", "--receivers", "2", "--envelopes", "2000", "--server-pid", strconv.Itoa(pid))...)
				if rep["stored"] != 2000.0 || rep["delivered_acked"] != 2000.0 || rep["not_delivered"] != 0.0 {
					t.Errorf("report: %v", rep)
				}
				if lat := rep["latency_ms"].(map[string]any); lat["count"] != 2000.0 || lat["p50"].(float64) <= 0 || lat["p99_9"].(float64) < lat["p99"].(float64) {
					t.Errorf("latency: %v", lat)
				}
				if rep["relay_cpu_seconds"] == nil || rep["tool_cpu_us_per_envelope"] == nil || (rep["mqtt_tls"] == true) != (tc.name == "tls") {
					t.Errorf("CPU or TLS not reported: %v", rep)
				}
				if errs := rep["errors"].(map[string]any); len(errs) != 0 {
					t.Errorf("errors: %v", errs)
				}
			}
		})
	}
}
