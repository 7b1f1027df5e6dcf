#!/usr/bin/env bash
# bench/compare.sh: Sealpost's relay side by side with Mosquitto, with the
# same load tool (cmd/sealpost-bench), message size, clients, in-flight
# window and latency measure. docs/performance.md explains the method and
# what each side makes durable.
#
# Throughput: --rounds rounds, each three runs in turn:
#   sealpost       the relay as a child process of the tool, SQLite store,
#                  TLS 1.3, every envelope fsynced (group commit) before
#                  its SendResult
#   mosquitto      MQTT 3.1.1 QoS 1, persistence on, no TLS
#   mosquitto-tls  the same over TLS 1.3
# then the throughput ratios sealpost/mosquitto with min/median/max, each
# server's CPU time per message and the p99 latencies.
#
# Latency: --rate R (repeatable) runs each system at R messages/s for
# --latency-rounds rounds and prints p50/p90/p99/p99.9.
#
# Usage (from the repository root):
#   bench/compare.sh                                   # 11 rounds
#   bench/compare.sh --rounds 5 --rate 5000 --rate 10000
#   bench/compare.sh --lock /tmp/sealpost-measure.lock # each run under flock
#
# Needs Go, openssl and Mosquitto; Mosquitto is installed from the Debian
# archive (apt-get) if it is missing. The script never touches a system
# Mosquitto: it starts its own on free loopback ports with its own config.
set -euo pipefail

ROUNDS=11
ENVELOPES=50000
SIZE=1024
SENDERS=4
RECEIVERS=4
INFLIGHT=8
STORE=sqlite
RATES=()
LATENCY_ROUNDS=3
LATENCY_SECONDS=10
LOCK=""
OUT=""
SYSTEMS="sealpost mosquitto mosquitto-tls"

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
	cat <<EOF
Options:
  --rounds N           throughput rounds (default $ROUNDS; 0: none)
  --envelopes N        messages per throughput run (default $ENVELOPES)
  --size BYTES         message size (default $SIZE)
  --senders S          senders / publishers (default $SENDERS)
  --receivers R        receivers / subscribers (default $RECEIVERS)
  --inflight N         unacknowledged sends per sender (default $INFLIGHT)
  --store sqlite|postgres  the relay's store (postgres needs SEALPOST_BENCH_POSTGRES)
  --rate R             also a fixed-rate latency run at R messages/s (repeatable)
  --latency-rounds N   rounds of each latency run (default $LATENCY_ROUNDS)
  --latency-seconds N  length of each latency run (default $LATENCY_SECONDS)
  --systems "LIST"     which of: $SYSTEMS (default all)
  --lock FILE          run each measurement under flock FILE (not the build)
  --out DIR            keep every run's JSON report in DIR
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--envelopes) ENVELOPES=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--senders) SENDERS=$2; shift 2 ;;
	--receivers) RECEIVERS=$2; shift 2 ;;
	--inflight) INFLIGHT=$2; shift 2 ;;
	--store) STORE=$2; shift 2 ;;
	--rate) RATES+=("$2"); shift 2 ;;
	--latency-rounds) LATENCY_ROUNDS=$2; shift 2 ;;
	--latency-seconds) LATENCY_SECONDS=$2; shift 2 ;;
	--systems) SYSTEMS=$2; shift 2 ;;
	--lock) LOCK=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "compare.sh: unknown option $1 (--help)" >&2; exit 2 ;;
	esac
done
for n in "$ROUNDS" "$ENVELOPES" "$SIZE" "$SENDERS" "$RECEIVERS" "$INFLIGHT" "$LATENCY_ROUNDS" "$LATENCY_SECONDS" ${RATES[@]+"${RATES[@]}"}; do
	case "$n" in '' | *[!0-9]*) echo "compare.sh: $n is not a whole number" >&2; exit 2 ;; esac
done
for s in $SYSTEMS; do
	case "$s" in sealpost | mosquitto | mosquitto-tls) ;; *) echo "compare.sh: unknown system $s" >&2; exit 2 ;; esac
done
case "$STORE" in
sqlite) STORE_ARGS=(--self sqlite) ;;
postgres)
	: "${SEALPOST_BENCH_POSTGRES:?--store postgres needs SEALPOST_BENCH_POSTGRES, a connection string}"
	STORE_ARGS=(--self postgres --postgres "$SEALPOST_BENCH_POSTGRES") ;;
*) echo "compare.sh: --store sqlite or postgres" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sealpost-compare.XXXXXX")
MOSQ_PID=""
cleanup() {
	if [ -n "$MOSQ_PID" ] && kill -0 "$MOSQ_PID" 2>/dev/null; then
		kill "$MOSQ_PID" 2>/dev/null || true
		wait "$MOSQ_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "$OUT" ]; then
	mkdir -p "$OUT"
else
	OUT=$WORK/reports
	mkdir -p "$OUT"
fi

# Mosquitto, from the Debian archive if missing.
MOSQUITTO=$(command -v mosquitto || true)
[ -z "$MOSQUITTO" ] && [ -x /usr/sbin/mosquitto ] && MOSQUITTO=/usr/sbin/mosquitto
if [ -z "$MOSQUITTO" ]; then
	echo "compare.sh: installing mosquitto from the Debian archive" >&2
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto
	MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
fi
command -v openssl >/dev/null || { echo "compare.sh: needs openssl" >&2; exit 1; }

# The load tool.
BIN=$WORK/sealpost-bench
(cd "$ROOT" && go build -o "$BIN" ./cmd/sealpost-bench)

# free_port prints a loopback TCP port nothing listens on.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "compare.sh: no free port" >&2
	return 1
}

# Mosquitto's own config: persistence on in a temporary directory, queues
# and in-flight windows unbounded so that no QoS 1 message is dropped,
# TCP_NODELAY as Go sets it, and a TLS 1.3 listener with a self-signed
# certificate.
PORT=$(free_port)
TLS_PORT=$(free_port)
while [ "$TLS_PORT" = "$PORT" ]; do TLS_PORT=$(free_port); done
mkdir -p "$WORK/mosquitto"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$WORK/mosquitto/key.pem" -out "$WORK/mosquitto/cert.pem" 2>/dev/null
cat >"$WORK/mosquitto/mosquitto.conf" <<EOF
user $(id -un)
per_listener_settings false
allow_anonymous true
persistence true
persistence_location $WORK/mosquitto/
max_inflight_messages 0
max_queued_messages 0
max_queued_bytes 0
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
listener $PORT 127.0.0.1
listener $TLS_PORT 127.0.0.1
certfile $WORK/mosquitto/cert.pem
keyfile $WORK/mosquitto/key.pem
tls_version tlsv1.3
EOF
"$MOSQUITTO" -c "$WORK/mosquitto/mosquitto.conf" 2>"$WORK/mosquitto/log" &
MOSQ_PID=$!
for p in "$PORT" "$TLS_PORT"; do
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break
		if [ "$i" = 100 ] || ! kill -0 "$MOSQ_PID" 2>/dev/null; then
			echo "compare.sh: mosquitto did not start:" >&2
			cat "$WORK/mosquitto/log" >&2
			exit 1
		fi
		sleep 0.1
	done
done

# measure NAME FILE ARGS... runs the tool (under the lock if asked) and
# keeps its JSON report in FILE.
measure() {
	local name=$1 file=$2
	shift 2
	local args=(--senders "$SENDERS" --receivers "$RECEIVERS" --size "$SIZE" --inflight "$INFLIGHT" --json "$@")
	case "$name" in
	sealpost) args=("${STORE_ARGS[@]}" --relay-child "${args[@]}") ;;
	mosquitto) args=(--mqtt "127.0.0.1:$PORT" --server-pid "$MOSQ_PID" "${args[@]}") ;;
	mosquitto-tls) args=(--mqtt "127.0.0.1:$TLS_PORT" --mqtt-tls --ca "$WORK/mosquitto/cert.pem" --server-pid "$MOSQ_PID" "${args[@]}") ;;
	esac
	local lock=()
	[ -n "$LOCK" ] && lock=(flock "$LOCK")
	if ! ${lock[@]+"${lock[@]}"} "$BIN" "${args[@]}" >"$file" 2>"$file.log"; then
		echo "compare.sh: $name failed:" >&2
		cat "$file.log" "$file" >&2
		exit 1
	fi
}

# field FILE KEY prints the first numeric value of "KEY" in a JSON report,
# 0 if it has none (the report omits a zero CPU time).
field() {
	{ grep -o "\"$2\": [-0-9.e+]*" "$1" || true; } | awk 'NR == 1 {print $2} END {if (NR == 0) print 0}'
}

# stats prints "min median max" of the numbers on stdin.
stats() {
	sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) { print "- - -"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3g %.3g %.3g\n", v[1], m, v[NR] }'
}

has() { case " $SYSTEMS " in *" $1 "*) return 0 ;; esac; return 1; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -sr)"
echo "mosquitto: $("$MOSQUITTO" -h 2>/dev/null | head -n 1), pid $MOSQ_PID; Go: $(go version | cut -d' ' -f3)"
echo "load: $SENDERS senders, $RECEIVERS receivers, $SIZE-byte messages, $INFLIGHT in flight per sender, $ENVELOPES messages per run; relay store $STORE"
echo

if [ "$ROUNDS" -gt 0 ]; then
	printf '%-5s %-14s %10s %9s %9s %9s %9s\n' round system "msgs/s" "srv µs" "tool µs" "p50 ms" "p99 ms"
	for r in $(seq 1 "$ROUNDS"); do
		for s in $SYSTEMS; do
			f=$OUT/throughput-$r-$s.json
			measure "$s" "$f" --envelopes "$ENVELOPES"
			printf '%-5s %-14s %10.0f %9.1f %9.1f %9.2f %9.2f\n' "$r" "$s" \
				"$(field "$f" delivered_acked_per_second)" "$(field "$f" relay_cpu_us_per_envelope)" \
				"$(field "$f" tool_cpu_us_per_envelope)" "$(field "$f" p50)" "$(field "$f" p99)"
		done
		if has sealpost; then
			for m in mosquitto mosquitto-tls; do
				has "$m" || continue
				a=$(field "$OUT/throughput-$r-sealpost.json" delivered_acked_per_second)
				b=$(field "$OUT/throughput-$r-$m.json" delivered_acked_per_second)
				awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f\n", a / b }' >>"$WORK/ratio-$m"
				printf '      sealpost/%-13s %.2fx\n' "$m" "$(tail -n 1 "$WORK/ratio-$m")"
			done
		fi
	done
	echo
	echo "summary over $ROUNDS rounds: min median max"
	for s in $SYSTEMS; do
		for k in delivered_acked_per_second relay_cpu_us_per_envelope tool_cpu_us_per_envelope p99; do
			printf '  %-14s %-28s %s\n' "$s" "$k" "$(for r in $(seq 1 "$ROUNDS"); do field "$OUT/throughput-$r-$s.json" "$k"; done | stats)"
		done
	done
	for m in mosquitto mosquitto-tls; do
		[ -f "$WORK/ratio-$m" ] || continue
		printf '  %-43s %s\n' "throughput sealpost/$m" "$(stats <"$WORK/ratio-$m")"
	done
fi

for rate in ${RATES[@]+"${RATES[@]}"}; do
	echo
	echo "latency at $rate messages/s, $LATENCY_SECONDS s per run, $LATENCY_ROUNDS rounds (ms)"
	printf '%-5s %-14s %9s %9s %9s %9s %9s %10s\n' round system p50 p90 p99 p99.9 max "msgs/s"
	for r in $(seq 1 "$LATENCY_ROUNDS"); do
		for s in $SYSTEMS; do
			f=$OUT/latency-$rate-$r-$s.json
			measure "$s" "$f" --envelopes "$((rate * LATENCY_SECONDS))" --rate "$rate"
			printf '%-5s %-14s %9.2f %9.2f %9.2f %9.2f %9.2f %10.0f\n' "$r" "$s" "$(field "$f" p50)" "$(field "$f" p90)" \
				"$(field "$f" p99)" "$(field "$f" p99_9)" "$(field "$f" max)" "$(field "$f" delivered_acked_per_second)"
		done
	done
	for s in $SYSTEMS; do
		for k in p50 p99 p99_9 delivered_acked_per_second; do
			printf '  %-14s %-26s min median max %s\n' "$s" "$k" "$(for r in $(seq 1 "$LATENCY_ROUNDS"); do field "$OUT/latency-$rate-$r-$s.json" "$k"; done | stats)"
		done
	done
done
