#!/usr/bin/env bash
# Builds the seed corpus of the decode_raw target from the Mosquitto captures.
#
# Each line "<level> <dir> <TYPE> <hex>" of crates/mqtt-codec/tests/fixtures/mosquitto-captures.txt
# becomes one file in fuzz/corpus/decode_raw/: a mode byte that selects a decoder of that protocol
# level (level - 2: 1 = MQTT 3.1, 2 = 3.1.1, 3 = 5.0; see fuzz_targets/decode_raw.rs), then the
# packet. A CONNECT is also written with mode 0 (server decoder, version unknown). Lines whose
# packet is over 4 KiB, comments and blank lines are skipped. Files are named by content hash, as
# libFuzzer names them, so running the script again adds nothing new.
#
# Usage: fuzz/seed_corpus.sh [CAPTURES] [OUT_DIR]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
captures="${1:-$here/../crates/mqtt-codec/tests/fixtures/mosquitto-captures.txt}"
out="${2:-$here/corpus/decode_raw}"
max_payload=4096

command -v xxd >/dev/null || { echo "seed_corpus.sh needs xxd" >&2; exit 1; }
mkdir -p "$out"

write() { # write MODE HEX
    local tmp
    tmp="$(mktemp)"
    { printf "\\x$(printf '%02x' "$1")"; printf '%s' "$2" | xxd -r -p; } >"$tmp"
    mv "$tmp" "$out/$(sha1sum "$tmp" | cut -d' ' -f1)"
}

written=0 skipped=0
while read -r level _dir type hex _rest; do
    case "$level" in '' | '#'*) continue ;; esac
    case "$level" in 3 | 4 | 5) ;; *) echo "unknown level '$level', skipped" >&2; continue ;; esac
    if [ $((${#hex} / 2)) -gt "$max_payload" ]; then
        skipped=$((skipped + 1))
        continue
    fi
    write $((level - 2)) "$hex"
    written=$((written + 1))
    if [ "$type" = CONNECT ]; then
        write 0 "$hex"
        written=$((written + 1))
    fi
done <"$captures"

echo "wrote $written inputs ($skipped packets over $max_payload bytes skipped) to $out:" \
    "$(find "$out" -type f | wc -l) files in the corpus"
