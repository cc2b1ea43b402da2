#!/bin/sh
# demo.sh - the "main job" of the README: install what is missing, build
# libmq and its tools with meson into build/, start a private mosquitto on a
# free loopback port, exchange messages with mqsub and mqpub at QoS 0, 1 and
# 2 (and with mosquitto_sub/mosquitto_pub, both ways), then stop the broker.
#
# Usage: scripts/demo.sh            (from anywhere; run as root or with sudo
#                                    available if packages must be installed)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="${BUILD:-$ROOT/build}"   # BUILD=dir overrides
WORK=$(mktemp -d "${TMPDIR:-/tmp}/libmq-demo.XXXXXX")
BROKER_PID=""

cleanup() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

say() { printf '\n== %s\n' "$*"; }

# ---- 1. packages (only the missing ones) ----------------------------------
PKGS="meson ninja-build gcc pkg-config libssl-dev mosquitto mosquitto-clients libcriterion-dev python3"
MISSING=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        MISSING="$MISSING $p"
    fi
done
if [ -n "$MISSING" ]; then
    say "installing:$MISSING"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING
else
    say "all packages present: $PKGS"
fi

# ---- 2. build ---------------------------------------------------------------
say "building libmq and the tools in $BUILD"
if [ -f "$BUILD/build.ninja" ]; then
    meson configure "$BUILD" -Dtools=true >/dev/null
else
    meson setup "$BUILD" "$ROOT" -Dtools=true >/dev/null
fi
ninja -C "$BUILD" -j2 tools/mqpub tools/mqsub tools/mqrr >/dev/null
MQPUB="$BUILD/tools/mqpub"
MQSUB="$BUILD/tools/mqsub"
"$MQPUB" --help | sed -n 2p || true

# ---- 3. broker on a free loopback port ---------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
EOF
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
i=0
until "$MQPUB" -p "$PORT" -t demo/ping -m . --quiet 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$BROKER_PID" 2>/dev/null; then
        echo "mosquitto did not start:"; cat "$WORK/broker.log"; exit 1
    fi
    sleep 0.1
done
say "mosquitto (pid $BROKER_PID) listening on 127.0.0.1:$PORT"

# ---- 4. mqsub <- mqpub at QoS 0, 1, 2 -----------------------------------------
say "mqsub -t 'demo/#' -q 2 -C 9 -F '%t qos=%q %p'   (messages from mqpub -m and -l)"
"$MQSUB" -p "$PORT" -t 'demo/#' -q 2 -C 9 -W 20 -i demo-sub \
    -F '%t qos=%q %p' >"$WORK/sub.out" &
SUB_PID=$!
sleep 1
for q in 0 1 2; do
    "$MQPUB" -p "$PORT" -t "demo/qos$q" -q "$q" -m "hello at QoS $q"
    printf 'line one at QoS %s\nline two at QoS %s\n' "$q" "$q" |
        "$MQPUB" -p "$PORT" -t "demo/lines$q" -q "$q" -l
done
wait "$SUB_PID"
cat "$WORK/sub.out"

# ---- 5. interop both ways ---------------------------------------------------------
say "mosquitto_pub -> mqsub -v (QoS 1), and mqpub -> mosquitto_sub -v (QoS 2)"
"$MQSUB" -p "$PORT" -t demo/interop1 -q 1 -C 1 -v -W 20 >"$WORK/a.out" &
A=$!
mosquitto_sub -p "$PORT" -t demo/interop2 -q 2 -C 1 -v -W 20 >"$WORK/b.out" &
B=$!
sleep 1
mosquitto_pub -p "$PORT" -t demo/interop1 -q 1 -m "from mosquitto_pub"
"$MQPUB" -p "$PORT" -t demo/interop2 -q 2 -m "from mqpub"
wait "$A" "$B"
cat "$WORK/a.out" "$WORK/b.out"

say "JSON output: mqsub -F %j (retained message, MQTT 5 properties)"
"$MQPUB" -p "$PORT" -V 5 -t demo/json -m '{"temp": 21.5}' -r -q 1 \
    -D publish content-type application/json
"$MQSUB" -p "$PORT" -V 5 -t demo/json -C 1 -F '%j'
"$MQPUB" -p "$PORT" -t demo/json -n -r

say "exit codes: -W timeout -> 27, bad option -> 1"
set +e
"$MQSUB" -p "$PORT" -t demo/nothing -W 1; echo "mqsub -W 1: exit $?"
"$MQPUB" -z 2>/dev/null; echo "mqpub -z: exit $?"
set -e

# ---- 6. stop the broker (by PID) ------------------------------------------------
kill "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
say "broker (pid $BROKER_PID) stopped; demo done"
BROKER_PID=""
