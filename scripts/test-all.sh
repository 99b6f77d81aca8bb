#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this). Installs what the tests need first.
# Usage: scripts/test-all.sh            (from a fresh Debian machine with rustup's toolchain)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Third-party peers used by interop tests. Installed only when missing, so that a developer's
# repeated runs stay fast; a missing peer is an error, never a skipped test.
need_apt=()
command -v mosquitto >/dev/null 2>&1 || need_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
    step "installing ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# paho-mqtt (Python) for the broker's interop tests.
if ! python3 -c 'import paho.mqtt.client as m; assert m.CallbackAPIVersion' >/dev/null 2>&1; then
    step "installing paho-mqtt"
    python3 -m pip install -q 'paho-mqtt>=2,<3' 2>&1 | grep -v "Running pip as the 'root' user" || true
fi

# mqtt.js (Node.js) for the broker's WebSocket interop test, pinned by its package-lock.json.
if [ ! -d crates/mqtt-broker/tests/mqttjs/node_modules/mqtt ]; then
    step "installing mqtt.js"
    (cd crates/mqtt-broker/tests/mqttjs && npm ci --no-audit --no-fund --loglevel=error)
fi

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
    # nextest does not run doctests.
    cargo test --workspace --locked --doc
else
    cargo test --workspace --locked --no-fail-fast
fi

step "no_std build of mqtt-codec"
cargo build -p mqtt-codec --no-default-features --locked

step "rustdoc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

# The Debian package end to end (build, dpkg -i, systemd-analyze verify, the broker started as
# its unit does, login with mqtt-passwd's user, dpkg -r, dpkg -P). Needs root: dpkg, a system
# user, the privilege drop. Installs cargo-deb once (cargo install, a few minutes).
step "Debian package"
if [ "$(id -u)" -eq 0 ]; then
    scripts/test-package.sh
else
    sudo env "PATH=$PATH" scripts/test-package.sh
fi

step "all checks passed"
