#!/usr/bin/env bash
# Our broker unpinned with its default worker threads (one per core) against `worker_threads 1`,
# the two alternating, in one run (docs/benchmarks.md, "Worker threads and the allocator").
# Prints one line per run and a table of medians: messages received per second and per broker
# CPU-second (utime + stime from /proc/PID/stat over the mqtt-bench run).
#
#   bench/workers.sh [--rounds N] [--duration SECS] [--port PORT]
#
# Needs the machine to itself; the brokers and mqtt-bench share its cores (nothing is pinned).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=2 duration=8 port=28860
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        *) echo "usage: bench/workers.sh [--rounds N] [--duration SECS] [--port PORT]" >&2; exit 2 ;;
    esac
done

cargo build --release -p mqtt-broker -p mqtt-cli
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
broker=$target/release/mqtt-broker
bench=$target/release/mqtt-bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# bench/mqtt-broker.conf with our port, then the same with one worker.
sed "s/^listener [0-9]* /listener $port /" bench/mqtt-broker.conf >"$work/default.conf"
{ cat "$work/default.conf"; echo "worker_threads 1"; } >"$work/w1.conf"

scenarios=(
    "fan-in -c 8 -q 0"
    "fan-in -c 8 -q 1"
    "fan-in -c 8 -q 2"
    "fan-out -c 100 -q 0"
    "fan-out -c 100 -q 1"
    "pairs -c 100 -q 1"
    "fan-in -c 8 -q 1 --rate 1101.2"
)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run CONFIG SCENARIO...: one mqtt-bench run against a fresh broker; prints "recv/s cpu-s".
run() {
    local conf=$1; shift
    "$broker" -c "$conf" 2>"$work/broker.log" &
    local pid=$!
    local up=
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
        sleep 0.05
    done
    if [ -z "$up" ]; then
        echo "workers.sh: the broker did not start:" >&2
        cat "$work/broker.log" >&2
        exit 1
    fi
    local t0 t1 json
    t0=$(cpu_ticks "$pid")
    json=$("$bench" "$@" --size 64 --duration "$duration" -h 127.0.0.1 -p "$port" --json --quiet | tail -1)
    t1=$(cpu_ticks "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    python3 - "$json" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
cpu = (float(sys.argv[3]) - float(sys.argv[2])) / float(sys.argv[4])
m = o["messages"]
if m["losses"] or m["duplicates"]:
    sys.exit(f"workers.sh: {m['losses']} lost, {m['duplicates']} duplicates")
print(m["received"] / max(m["receive_elapsed_s"], 1e-3), cpu and m["received"] / cpu)
PY
}

results=$work/results
: >"$results"
for s in "${scenarios[@]}"; do
    for r in $(seq "$rounds"); do
        for setting in default w1; do
            # shellcheck disable=SC2086
            read -r rate per_cpu < <(run "$work/$setting.conf" $s)
            printf '%s | %s | round %d | %.0f msgs/s | %.0f msgs per broker CPU-s\n' \
                "$s" "$setting" "$r" "$rate" "$per_cpu"
            echo "$s|$setting|$rate|$per_cpu" >>"$results"
        done
    done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    s, setting, rate, per_cpu = line.rstrip("\n").split("|")
    rows.setdefault(s, {}).setdefault(setting, []).append((float(rate), float(per_cpu)))
print()
print("| scenario | msgs/s default | msgs/s worker_threads 1 | per CPU-s default | per CPU-s worker_threads 1 | per CPU-s w1/default |")
print("|---|---|---|---|---|---|")
for s, by in rows.items():
    med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v)) for k, v in by.items()}
    d, w = med["default"], med["w1"]
    print(f"| {s} | {d[0]:,.0f} | {w[0]:,.0f} | {d[1]:,.0f} | {w[1]:,.0f} | {w[1] / d[1]:.2f} |")
PY
