#!/usr/bin/env bash
# Persistence benchmark of issue #7 (docs/benchmarks.md, "Persistence: throughput and restart").
# Builds the release broker and mqtt-bench, then runs `xtask bench-persistence`, which, in one
# run and each broker in a fresh store directory under $TMPDIR (default /tmp; it must be on a
# disk, not a tmpfs, since fsync is what is measured):
#   1. runs fan-in QoS 1 (8 publishers, one --persistent-subscribers subscriber) against ours in
#      memory, with persistence (sync ack, and periodic), Mosquitto with and without persistence,
#      and ours again with a window of 100;
#   2. fills ours and Mosquitto with 100,000 retained messages and 10,000 persistent sessions
#      with queued messages, stops them (SIGTERM, SIGKILL) and times the restart to the first
#      CONNACK.
# Writes results.json and table.md to --out (default target/bench-persistence).
#
#   bench/persistence.sh [--brokers mosquitto,ours] [--duration SECS] [--rounds N] [--quick]
#                        [--only throughput|restart] [--out DIR] [--replot]
#
# Installs nothing: Mosquitto comes from `apt-get install mosquitto`; without it, use
# `--brokers ours`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p mqtt-broker -p mqtt-cli
exec cargo run --release -p xtask -- bench-persistence "$@"
