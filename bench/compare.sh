#!/usr/bin/env bash
# Side-by-side broker benchmark: mqtt-broker vs Mosquitto vs rumqttd (docs/benchmarks.md,
# "Broker side by side"). Builds the release broker and mqtt-bench, then runs
# `xtask bench-compare`, which starts each broker on its own loopback port (bench/*.conf,
# bench/rumqttd.toml), runs the same mqtt-bench matrix against each, and writes results.json,
# table.md and SVG charts to --out (default target/bench-compare).
#
#   bench/compare.sh [--brokers mosquitto,rumqttd,ours] [--duration SECS] [--quick]
#                    [--placement pinned|unpinned|both] [--out DIR] [--replot]
#
# Installs nothing: Mosquitto comes from `apt-get install mosquitto`, rumqttd from
# `cargo install rumqttd`; a missing one is an error unless --brokers leaves it out.
set -euo pipefail
cd "$(dirname "$0")/.."

# The brokers inherit this shell's open-files limit: the idle scenario holds 10,000
# connections, so raise the soft limit towards the hard one when it is lower.
want=10500
soft=$(ulimit -Sn)
if [ "$soft" != unlimited ] && [ "$soft" -lt "$want" ]; then
    hard=$(ulimit -Hn)
    if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then
        ulimit -Sn "$want"
    else
        ulimit -Sn "$hard"
        echo "compare.sh: warning: open-files hard limit is $hard (< $want): the 10,000" \
             "idle connections may be refused" >&2
    fi
fi

cargo build --release -p mqtt-broker -p mqtt-cli
exec cargo run --release -p xtask -- bench-compare "$@"
