#!/usr/bin/env bash
# End-to-end test of the Debian package, as root on a Debian machine (CI's, a developer's):
# builds it (scripts/package-deb.sh), installs it with dpkg -i, checks files, owners, modes and
# conffiles, verifies the systemd unit, starts the broker exactly as the unit's ExecStart does
# (as root, so it drops to the mqtt-broker user) with a password file made by the installed
# mqtt-passwd, logs in with mosquitto_sub / mqtt-pub / mqtt-sub, checks that a wrong password
# and anonymous clients are refused, then removes (dpkg -r) and purges (dpkg -P) the package.
# The mqtt-broker system user stays after purge, as Debian policy allows.
# Any problem stops the script with "FAIL: ..." and a non-zero status.
# Usage: scripts/test-package.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
START=$(date +%s)

[ "$(id -u)" -eq 0 ] || fail "run as root (dpkg -i, the service user, the privilege drop)"
command -v dpkg >/dev/null || fail "not a Debian machine (no dpkg)"

PORT=1883
BROKER_PID=""
WORK=$(mktemp -d /tmp/test-package.XXXXXX)
cleanup() {
    status=$?
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ]; then
        { echo "--- broker output:"; cat "$WORK/broker.out" 2>/dev/null || true; } >&2
        { echo "--- broker log:"; cat /var/log/mqtt-broker/mqtt-broker.log 2>/dev/null || true; } >&2
        # Leave no half-installed package behind.
        dpkg -P mqtt-broker >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

# --- tools --------------------------------------------------------------------------------
need_apt=()
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v mosquitto_sub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
if [ ${#need_apt[@]} -gt 0 ]; then
    step "installing ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! command -v cargo-deb >/dev/null 2>&1; then
    step "installing cargo-deb (once; later runs reuse ~/.cargo/bin/cargo-deb)"
    cargo install cargo-deb --locked
fi

# --- build --------------------------------------------------------------------------------
step "building the package"
DEB=$(scripts/package-deb.sh | tail -1)
[ -f "$DEB" ] || fail "no package built ($DEB)"
echo "$DEB"
BUILT=$(date +%s)

step "package metadata"
dpkg-deb --info "$DEB" >"$WORK/info"
dpkg-deb --contents "$DEB" >"$WORK/contents"
dpkg-deb --ctrl-tarfile "$DEB" | tar -x -C "$WORK" ./conffiles
for f in /etc/mqtt-broker/mqtt-broker.conf /etc/mqtt-broker/conf.d/README /etc/logrotate.d/mqtt-broker; do
    grep -qx "$f" "$WORK/conffiles" || fail "$f is not a conffile: $(cat "$WORK/conffiles")"
done
for s in postinst postrm prerm; do
    grep -q " $s" "$WORK/info" || fail "no $s maintainer script"
done

# --- install ------------------------------------------------------------------------------
if dpkg -s mqtt-broker >/dev/null 2>&1; then
    step "purging an earlier installation"
    dpkg -P mqtt-broker
fi
[ -e /etc/mqtt-broker ] && fail "/etc/mqtt-broker exists before the install: refusing to touch it"
step "dpkg -i"
dpkg -i "$DEB"

step "installed files, owners and modes"
expect() { # path owner:group mode
    [ -e "$1" ] || fail "$1 is missing"
    actual=$(stat -c '%U:%G %a' "$1")
    [ "$actual" = "$2 $3" ] || fail "$1 is $actual, expected $2 $3"
}
getent passwd mqtt-broker >/dev/null || fail "no mqtt-broker user"
LOG_GROUP=mqtt-broker; getent group adm >/dev/null && LOG_GROUP=adm
for b in mqtt-pub mqtt-sub mqtt-rr mqtt-passwd mqtt-bench; do
    expect "/usr/bin/$b" root:root 755
done
expect /usr/sbin/mqtt-broker root:root 755
expect /etc/mqtt-broker root:root 755
expect /etc/mqtt-broker/conf.d root:root 755
expect /etc/mqtt-broker/mqtt-broker.conf root:root 644
expect /etc/logrotate.d/mqtt-broker root:root 644
expect /var/lib/mqtt-broker mqtt-broker:mqtt-broker 750
expect /var/log/mqtt-broker "mqtt-broker:$LOG_GROUP" 750
for p in man1/mqtt-pub.1 man1/mqtt-sub.1 man1/mqtt-rr.1 man1/mqtt-passwd.1 man1/mqtt-bench.1 \
         man8/mqtt-broker.8 man5/mqtt-broker.conf.5; do
    expect "/usr/share/man/$p.gz" root:root 644
    zcat "/usr/share/man/$p.gz" | grep -q '^\.TH' || fail "$p.gz is not a man page"
done
for b in mqtt-broker mqtt-pub mqtt-sub mqtt-rr mqtt-passwd mqtt-bench; do
    expect "/usr/share/bash-completion/completions/$b" root:root 644
    expect "/usr/share/zsh/vendor-completions/_$b" root:root 644
    expect "/usr/share/fish/vendor_completions.d/$b.fish" root:root 644
done
bash -n /usr/share/bash-completion/completions/mqtt-pub || fail "bash completion does not parse"
UNIT=$(dpkg -L mqtt-broker | grep '/systemd/system/mqtt-broker.service$' | head -1)
[ -n "$UNIT" ] || fail "the package installs no mqtt-broker.service"
expect "$UNIT" root:root 644
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' "$UNIT" || fail "no ExecReload with SIGHUP"
grep -q 'kill --signal=HUP' /etc/logrotate.d/mqtt-broker || fail "logrotate does not send SIGHUP"
if command -v logrotate >/dev/null 2>&1; then
    logrotate --debug /etc/logrotate.d/mqtt-broker >"$WORK/logrotate" 2>&1 \
        || fail "logrotate rejects its file: $(cat "$WORK/logrotate")"
fi
[ -L /etc/systemd/system/multi-user.target.wants/mqtt-broker.service ] \
    || fail "the unit is not enabled"

step "systemd-analyze verify $UNIT"
systemd-analyze verify "$UNIT"

step "the packaged configuration"
/usr/sbin/mqtt-broker --test-config -c /etc/mqtt-broker/mqtt-broker.conf

# --- the tutorial: a user, no anonymous access, restart --------------------------------------
step "mqtt-passwd -c /etc/mqtt-broker/passwd test (password on stdin, as from a terminal)"
printf 's3cret pass\ns3cret pass\n' | mqtt-passwd -c /etc/mqtt-broker/passwd test
expect /etc/mqtt-broker/passwd root:root 600
chown mqtt-broker:mqtt-broker /etc/mqtt-broker/passwd
printf 'password_file /etc/mqtt-broker/passwd\nallow_anonymous false\n' \
    >/etc/mqtt-broker/conf.d/local.conf

step "starting the broker as the unit's ExecStart does"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    fail "port $PORT is already in use (a running mosquitto?): stop it first"
fi
EXEC=$(sed -n 's/^ExecStart=//p' "$UNIT")
[ -n "$EXEC" ] || fail "no ExecStart in $UNIT"
echo "$EXEC"
UMASK=$(sed -n 's/^UMask=//p' "$UNIT")
# shellcheck disable=SC2086 # the unit's command line, split on spaces as systemd does here
(umask "${UMASK:-0022}" && exec $EXEC) >"$WORK/broker.out" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 100); do
    grep -q "listen socket on port $PORT" /var/log/mqtt-broker/mqtt-broker.log 2>/dev/null && break
    kill -0 "$BROKER_PID" 2>/dev/null || fail "the broker exited"
    sleep 0.1
done
grep -q "listen socket on port $PORT" /var/log/mqtt-broker/mqtt-broker.log \
    || fail "the broker did not log its listener to /var/log/mqtt-broker/mqtt-broker.log"
for _ in $(seq 1 50); do
    [ "$(ps -o user= -p "$BROKER_PID")" = mqtt-broker ] && break
    sleep 0.1
done
[ "$(ps -o user= -p "$BROKER_PID")" = mqtt-broker ] \
    || fail "the broker runs as $(ps -o user= -p "$BROKER_PID"), not mqtt-broker"
expect /var/log/mqtt-broker/mqtt-broker.log "mqtt-broker:mqtt-broker" 640
if grep -q "world readable" /var/log/mqtt-broker/mqtt-broker.log; then
    fail "a 0600 password file was reported world readable"
fi

step "logging in with the password"
mosquitto_sub -h 127.0.0.1 -p "$PORT" -u test -P 's3cret pass' -t tutorial/# -C 2 -W 10 -v \
    >"$WORK/mosquitto_sub.out" &
SUB1=$!
mqtt-sub -h 127.0.0.1 -p "$PORT" -u test -P 's3cret pass' -t tutorial/# -C 2 -W 10 -v \
    >"$WORK/mqtt_sub.out" &
SUB2=$!
sleep 1
mqtt-pub -h 127.0.0.1 -p "$PORT" -u test -P 's3cret pass' -t tutorial/a -m hello
mosquitto_pub -h 127.0.0.1 -p "$PORT" -u test -P 's3cret pass' -t tutorial/b -m world
wait "$SUB1" || fail "mosquitto_sub -u test did not receive: $(cat "$WORK/mosquitto_sub.out")"
wait "$SUB2" || fail "mqtt-sub -u test did not receive: $(cat "$WORK/mqtt_sub.out")"
for out in "$WORK/mosquitto_sub.out" "$WORK/mqtt_sub.out"; do
    grep -qx 'tutorial/a hello' "$out" && grep -qx 'tutorial/b world' "$out" \
        || fail "unexpected messages in $out: $(cat "$out")"
done

step "a wrong password and an anonymous client are refused"
if mqtt-pub -h 127.0.0.1 -p "$PORT" -u test -P wrong -t tutorial/a -m x 2>"$WORK/wrong.err"; then
    fail "mqtt-pub with a wrong password succeeded"
fi
cat "$WORK/wrong.err"
if mosquitto_pub -h 127.0.0.1 -p "$PORT" -t tutorial/a -m x 2>"$WORK/anon.err"; then
    fail "an anonymous mosquitto_pub succeeded"
fi
cat "$WORK/anon.err"

step "SIGHUP (systemctl reload, logrotate) as the mqtt-broker user"
mv /var/log/mqtt-broker/mqtt-broker.log /var/log/mqtt-broker/mqtt-broker.log.1
kill -HUP "$BROKER_PID"
for _ in $(seq 1 50); do
    grep -q "Config reloaded" /var/log/mqtt-broker/mqtt-broker.log 2>/dev/null && break
    sleep 0.1
done
grep -q "Config reloaded" /var/log/mqtt-broker/mqtt-broker.log \
    || fail "no new log file with 'Config reloaded' after SIGHUP"
mqtt-pub -h 127.0.0.1 -p "$PORT" -u test -P 's3cret pass' -t tutorial/a -m again \
    || fail "login refused after the reload"

step "a world-readable password file is loaded with Mosquitto 2's warning"
chmod 0644 /etc/mqtt-broker/passwd
kill -HUP "$BROKER_PID"
for _ in $(seq 1 50); do
    grep -q "has world readable permissions" /var/log/mqtt-broker/mqtt-broker.log && break
    sleep 0.1
done
grep "world readable" /var/log/mqtt-broker/mqtt-broker.log \
    || fail "no warning for a world-readable password file"
chmod 0600 /etc/mqtt-broker/passwd

step "a retained message is stored under /var/lib/mqtt-broker (persistence true)"
mqtt-pub -h 127.0.0.1 -p "$PORT" -u test -P 's3cret pass' -t tutorial/kept -m kept -r -q 1 \
    || fail "retained publication refused"

step "stopping the broker"
kill -TERM "$BROKER_PID"
wait "$BROKER_PID" || fail "the broker exited with $? on SIGTERM"
BROKER_PID=""
DB=/var/lib/mqtt-broker/mqtt-broker.db
[ -s "$DB" ] || fail "no persistence file $DB after a retained publication: $(ls -la /var/lib/mqtt-broker)"
[ "$(stat -c %U "$DB")" = mqtt-broker ] || fail "$DB is owned by $(stat -c %U "$DB"), not mqtt-broker"

# --- remove, purge ------------------------------------------------------------------------
step "dpkg -r"
dpkg -r mqtt-broker
for f in /usr/sbin/mqtt-broker /usr/bin/mqtt-pub /usr/bin/mqtt-passwd "$UNIT" \
         /usr/share/man/man1/mqtt-pub.1.gz /usr/share/bash-completion/completions/mqtt-pub; do
    [ -e "$f" ] && fail "$f is still there after dpkg -r"
done
[ -f /etc/mqtt-broker/mqtt-broker.conf ] || fail "dpkg -r removed the conffile (only purge should)"
step "dpkg -P"
dpkg -P mqtt-broker
for f in /etc/mqtt-broker /var/lib/mqtt-broker /var/log/mqtt-broker /etc/logrotate.d/mqtt-broker \
         /etc/systemd/system/multi-user.target.wants/mqtt-broker.service; do
    [ -e "$f" ] && fail "$f is still there after dpkg -P"
done
dpkg -s mqtt-broker >/dev/null 2>&1 && fail "dpkg still knows mqtt-broker after purge"
echo "(the mqtt-broker system user is kept, as Debian policy allows)"

END=$(date +%s)
step "package test passed: build $((BUILT - START)) s, install/run/remove $((END - BUILT)) s"
