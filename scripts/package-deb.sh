#!/usr/bin/env bash
# Builds the Debian package: release binaries, man pages and completions (xtask), cargo deb.
# Prints the path of the .deb on its last line.
# Usage: scripts/package-deb.sh    (needs cargo-deb: cargo install cargo-deb --locked)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null 2>&1 || {
    echo "error: cargo-deb is missing: cargo install cargo-deb --locked" >&2
    exit 1
}
cargo build --release --locked -p mqtt-broker -p mqtt-cli >&2
rm -rf target/assets
cargo run --quiet --locked -p xtask -- dist-assets target/assets >/dev/null
gzip -9n target/assets/man/*
# cargo deb prints the path of the package it wrote.
cargo deb --locked -p mqtt-broker --no-build 2>&1 >&2 | tail -1 || true
ls -t target/debian/mqtt-broker_*.deb | head -1
