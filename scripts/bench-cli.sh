#!/usr/bin/env bash
# End-to-end speed of the CLIs against Mosquitto's, in the same run and against the same broker
# (a private `mosquitto` on a free loopback port), reported as ratios because these machines
# are shared and noisy.
#
#   1. `-l` throughput: 1,000,000 lines from stdin at QoS 0 and QoS 1, `mqtt-pub -l` vs
#      `mosquitto_pub -l`, each while `mqtt-sub` and `mosquitto_sub` both count what arrives
#      (so that "keeps up without dropping" is measured, not assumed).
#   2. Start-up: a whole `-m` publication (start, connect, publish, disconnect, exit), repeated.
#
# Usage: scripts/bench-cli.sh [lines] [rounds] [startups]   (defaults: 1000000 3 200)
# Needs: mosquitto, mosquitto-clients; builds the release binaries first.
set -euo pipefail

LINES=${1:-1000000}
ROUNDS=${2:-3}
STARTUPS=${3:-200}

cd "$(dirname "$0")/.."
for tool in mosquitto mosquitto_pub mosquitto_sub; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
        echo "error: $tool is missing: apt-get install -y mosquitto mosquitto-clients" >&2
        exit 1
    }
done
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

echo "==> building release binaries" >&2
cargo build --release --locked -p mqtt-cli --bin mqtt-pub --bin mqtt-sub >&2
BIN=target/release

WORK=$(mktemp -d)
cleanup() {
    [ -n "${BROKER_PID:-}" ] && kill "$BROKER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
# Subscribers may lag a burst by many messages; the default 1000 would drop QoS 0 and 1.
max_queued_messages 0
EOF
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 100); do
    mosquitto_pub -p "$PORT" -t ping -n 2>/dev/null && break
    sleep 0.05
done

seq -f "line %07g of the -l benchmark" 1 "$LINES" >"$WORK/lines"

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }

# Runs one `-l` publication with both subscribers counting; prints "seconds mqtt_sub_count
# mosquitto_sub_count".
run_lines() {
    local publisher=$1 qos=$2 topic="bench/$RANDOM$RANDOM"
    # A retained "ready" reaches each subscriber as soon as its subscription exists: once both
    # printed it, nothing published afterwards can be missed for lack of a subscription.
    mosquitto_pub -p "$PORT" -t "$topic" -q 1 -r -m ready
    "$BIN/mqtt-sub" -p "$PORT" -t "$topic" -q "$qos" >"$WORK/ours.out" &
    local ours=$!
    mosquitto_sub -p "$PORT" -t "$topic" -q "$qos" >"$WORK/theirs.out" &
    local theirs=$!
    while [ "$(wc -l <"$WORK/ours.out")" -lt 1 ] || [ "$(wc -l <"$WORK/theirs.out")" -lt 1 ]; do sleep 0.01; done
    local start end
    start=$(now)
    "$publisher" -p "$PORT" -t "$topic" -q "$qos" -l <"$WORK/lines"
    end=$(now)
    # Let the subscribers drain: wait until both counts stop growing.
    local last=-1 count=0
    while :; do
        count=$(( $(wc -l <"$WORK/ours.out") + $(wc -l <"$WORK/theirs.out") ))
        [ "$count" -eq "$last" ] && break
        [ "$count" -ge $(( 2 * (LINES + 1) )) ] && break
        last=$count
        sleep 0.5
    done
    kill "$ours" "$theirs" 2>/dev/null || true
    wait "$ours" "$theirs" 2>/dev/null || true
    echo "$(calc "$end - $start") $(( $(wc -l <"$WORK/ours.out") - 1 )) $(( $(wc -l <"$WORK/theirs.out") - 1 ))"
}

echo
echo "## mqtt-pub -l vs mosquitto_pub -l: $LINES lines, $ROUNDS rounds"
echo
echo "Each row: seconds to publish, and messages received by mqtt-sub / mosquitto_sub. Time ratio ="
echo "theirs/ours (>1: mqtt-pub is faster); throughput ratio = (our received/s) / (their received/s)."
echo
echo "| QoS | round | mosquitto_pub s | received | mqtt-pub s | received | time ratio | throughput ratio |"
echo "|---|---|---|---|---|---|---|---|"
for qos in 0 1; do
    for round in $(seq "$ROUNDS"); do
        read -r t1 a1 b1 < <(run_lines mosquitto_pub "$qos")
        read -r t2 a2 b2 < <(run_lines "$BIN/mqtt-pub" "$qos")
        r1=$(( a1 < b1 ? a1 : b1 )); r2=$(( a2 < b2 ? a2 : b2 ))
        printf '| %s | %s | %.2f | %s / %s | %.2f | %s / %s | %.2f | %.2f |\n' "$qos" "$round" \
            "$t1" "$a1" "$b1" "$t2" "$a2" "$b2" "$(calc "$t1 / $t2")" \
            "$(calc "($r2 / $t2) / ($r1 / $t1)")"
    done
done

startup() {
    local publisher=$1 start end
    start=$(now)
    for _ in $(seq "$STARTUPS"); do
        "$publisher" -p "$PORT" -t bench/startup -m x
    done
    end=$(now)
    calc "($end - $start) * 1000 / $STARTUPS"
}

echo
echo "## Start-up: a whole -m publication, mean of $STARTUPS runs (ms), alternating 3 times"
echo
echo "| mosquitto_pub ms | mqtt-pub ms | ratio (theirs/ours) |"
echo "|---|---|---|"
for _ in 1 2 3; do
    theirs=$(startup mosquitto_pub); ours=$(startup "$BIN/mqtt-pub")
    printf '| %.2f | %.2f | %.2f |\n' "$theirs" "$ours" "$(calc "$theirs / $ours")"
done
