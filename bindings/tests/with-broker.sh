#!/bin/sh
# with-broker.sh - run a command next to a private mosquitto broker.
#
#   with-broker.sh CMD [ARGS...]   start a broker on a free 127.0.0.1 port,
#                                  run CMD with MQ_TEST_HOST, MQ_TEST_PORT,
#                                  MQ_TEST_URI, MQ_TEST_BROKER (this script)
#                                  and MQ_TEST_BROKER_DIR set, then stop the
#                                  broker (by PID) and exit with CMD's status.
#                                  The broker also has two TLS listeners with
#                                  certificates made by tests/support/certs.sh:
#                                  MQ_TEST_TLS_URI (mqtts://localhost:PORT+1,
#                                  a certificate for localhost/127.0.0.1) and
#                                  MQ_TEST_TLS_WRONG_URI (PORT+2, a certificate
#                                  for wrong.example.invalid only); CA file
#                                  MQ_TEST_CA, all certificates in MQ_TEST_CERTS
#                                  (with CRLs of tests/transport/crl.sh:
#                                  crl-empty.pem, crl-revoked.pem revoking
#                                  the localhost certificate). A TLS-PSK
#                                  listener: MQ_TEST_PSK_URI (PORT+3), identity
#                                  MQ_TEST_PSK_IDENTITY, key MQ_TEST_PSK_KEY
#                                  (hex). With tinyproxy installed, an HTTP
#                                  CONNECT proxy with Basic auth:
#                                  MQ_TEST_PROXY_HOST, _PORT, _USER, _PASS,
#                                  MQ_TEST_PROXY_URI (http://user:pass@...),
#                                  its log (one "CONNECT" line per tunnel) in
#                                  MQ_TEST_PROXY_LOG.
#   with-broker.sh stop|start      stop / restart that broker (same port);
#                                  used by reconnect tests, needs
#                                  MQ_TEST_BROKER_DIR from the environment.
set -u

mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)

broker_start() {   # dir port -> 0 when listening
    dir=$1
    port=$2
    certs=$dir/certs
    cat > "$dir/mosquitto.conf" <<CONF
per_listener_settings false
allow_anonymous true
# back-pressure tests hold thousands of QoS 1 messages for a client that
# does not read (the default, 1000, would drop some)
max_queued_messages 100000
listener $port 127.0.0.1
listener $((port + 1)) 127.0.0.1
cafile $certs/ca.crt
certfile $certs/server.crt
keyfile $certs/server.key
listener $((port + 2)) 127.0.0.1
cafile $certs/ca.crt
certfile $certs/wronghost.crt
keyfile $certs/wronghost.key
listener $((port + 3)) 127.0.0.1
psk_hint libmq-bindings
psk_file $dir/psk.txt
CONF
    "$mosq" -c "$dir/mosquitto.conf" -v >> "$dir/broker.log" 2>&1 &
    echo $! > "$dir/pid"
    i=0
    while [ $i -lt 100 ]; do
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            return 1
        fi
        if grep -q "listen socket on port $((port + 3))" "$dir/broker.log" &&
           grep -q " running" "$dir/broker.log"; then
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# tinyproxy on a free port below the ephemeral range, Basic auth;
# sets proxy_port, or returns 1 (not installed or cannot start)
proxy_start() {    # dir
    tp=$(command -v tinyproxy || echo /usr/sbin/tinyproxy)
    [ -x "$tp" ] || return 1
    n=0
    while [ $n -lt 20 ]; do
        n=$((n + 1))
        proxy_port=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (eph_low - 10000) + 10000 ))
        # no ConnectPort line: CONNECT to any port (the broker's)
        cat > "$1/tinyproxy.conf" <<CONF
Port $proxy_port
Listen 127.0.0.1
Allow 127.0.0.1
Timeout 60
MaxClients 50
LogLevel Info
BasicAuth $MQ_TEST_PROXY_USER $MQ_TEST_PROXY_PASS
CONF
        : > "$1/proxy.log"
        "$tp" -d -c "$1/tinyproxy.conf" >> "$1/proxy.log" 2>&1 &
        echo $! > "$1/proxy.pid"
        i=0
        while [ $i -lt 100 ]; do
            kill -0 "$(cat "$1/proxy.pid")" 2>/dev/null || break
            if grep -q "Accepting connections" "$1/proxy.log"; then
                return 0
            fi
            sleep 0.05
            i=$((i + 1))
        done
        proxy_stop "$1"
    done
    return 1
}

# stop the process of a pid file: TERM, then KILL after 5 s
stop_pidfile() {   # file
    pid=$(cat "$1" 2>/dev/null) || return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    kill -9 "$pid" 2>/dev/null
    rm -f "$1"
    return 0
}

proxy_stop() { stop_pidfile "$1/proxy.pid"; }     # dir
broker_stop() { stop_pidfile "$1/pid"; }          # dir

case "${1:-}" in
stop)
    broker_stop "$MQ_TEST_BROKER_DIR"
    exit 0
    ;;
start)
    : > "$MQ_TEST_BROKER_DIR/broker.log.new"
    cat "$MQ_TEST_BROKER_DIR/broker.log" >> "$MQ_TEST_BROKER_DIR/broker.log.old" 2>/dev/null
    : > "$MQ_TEST_BROKER_DIR/broker.log"
    # the port may take a moment to be free again after a stop
    n=0
    until broker_start "$MQ_TEST_BROKER_DIR" "$(cat "$MQ_TEST_BROKER_DIR/port")"; do
        broker_stop "$MQ_TEST_BROKER_DIR"
        n=$((n + 1))
        if [ $n -ge 20 ]; then
            echo "with-broker.sh: cannot restart mosquitto" >&2
            cat "$MQ_TEST_BROKER_DIR/broker.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    exit 0
    ;;
"")
    echo "usage: with-broker.sh CMD [ARGS...] | stop | start" >&2
    exit 2
    ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/mq-broker.XXXXXX") || exit 1
chmod 755 "$dir"
if ! "$here/../../tests/support/certs.sh" "$dir/certs" >"$dir/certs.log" 2>&1; then
    echo "with-broker.sh: certs.sh failed" >&2
    cat "$dir/certs.log" >&2
    rm -rf "$dir"
    exit 1
fi
if ! "$here/../../tests/transport/crl.sh" "$dir/certs" >>"$dir/certs.log" 2>&1; then
    echo "with-broker.sh: crl.sh failed" >&2
    cat "$dir/certs.log" >&2
    rm -rf "$dir"
    exit 1
fi
MQ_TEST_PSK_IDENTITY=libmq-bindings
MQ_TEST_PSK_KEY=00c0ffee4a5b6c7d8e9f00112233445566778899aabbccddeeff
echo "$MQ_TEST_PSK_IDENTITY:$MQ_TEST_PSK_KEY" > "$dir/psk.txt"
chmod 644 "$dir/psk.txt"   # mosquitto reads it as its own user
eph_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$eph_low" -gt 12000 ] 2>/dev/null || eph_low=32768
tries=0
while :; do
    # a random port below the kernel's ephemeral range (so no outgoing
    # connection takes it while the broker is restarted); retried if taken
    port=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (eph_low - 10000) + 10000 ))
    port=$((port - port % 4))   # the listeners use PORT, PORT+1, PORT+2
    : > "$dir/broker.log"
    if broker_start "$dir" "$port"; then
        break
    fi
    broker_stop "$dir"
    tries=$((tries + 1))
    if [ $tries -ge 20 ]; then
        echo "with-broker.sh: could not start mosquitto" >&2
        cat "$dir/broker.log" >&2
        rm -rf "$dir"
        exit 1
    fi
done
echo "$port" > "$dir/port"

# (tinyproxy takes only [-_.a-zA-Z0-9] in BasicAuth)
MQ_TEST_PROXY_USER=mq
MQ_TEST_PROXY_PASS=s3cret-pw
if proxy_start "$dir"; then
    MQ_TEST_PROXY_HOST=127.0.0.1
    MQ_TEST_PROXY_PORT=$proxy_port
    MQ_TEST_PROXY_URI="http://$MQ_TEST_PROXY_USER:$MQ_TEST_PROXY_PASS@127.0.0.1:$proxy_port"
    MQ_TEST_PROXY_LOG=$dir/proxy.log
    export MQ_TEST_PROXY_HOST MQ_TEST_PROXY_PORT MQ_TEST_PROXY_USER \
        MQ_TEST_PROXY_PASS MQ_TEST_PROXY_URI MQ_TEST_PROXY_LOG
fi

MQ_TEST_HOST=127.0.0.1
MQ_TEST_PORT=$port
MQ_TEST_URI="mqtt://127.0.0.1:$port"
MQ_TEST_BROKER="$here/with-broker.sh"
MQ_TEST_BROKER_DIR=$dir
MQ_TEST_TLS_URI="mqtts://localhost:$((port + 1))"
MQ_TEST_TLS_WRONG_URI="mqtts://localhost:$((port + 2))"
MQ_TEST_CERTS=$dir/certs
MQ_TEST_CA=$dir/certs/ca.crt
MQ_TEST_PSK_URI="mqtts://127.0.0.1:$((port + 3))"
export MQ_TEST_HOST MQ_TEST_PORT MQ_TEST_URI MQ_TEST_BROKER MQ_TEST_BROKER_DIR \
    MQ_TEST_TLS_URI MQ_TEST_TLS_WRONG_URI MQ_TEST_CERTS MQ_TEST_CA \
    MQ_TEST_PSK_URI MQ_TEST_PSK_IDENTITY MQ_TEST_PSK_KEY

"$@"
rc=$?
broker_stop "$dir"
proxy_stop "$dir"
if [ $rc -ne 0 ] && [ -n "${MQ_TEST_SHOW_BROKER_LOG:-}" ]; then
    cat "$dir/broker.log.old" "$dir/broker.log" >&2 2>/dev/null
fi
rm -rf "$dir"
exit $rc
