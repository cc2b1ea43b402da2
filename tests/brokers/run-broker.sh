#!/bin/sh
# run-broker.sh BROKER PROGRAM [ARGS...]
# Starts BROKER (mosquitto, rabbitmq or aedes) on free loopback ports in a
# private temporary directory, runs "PROGRAM BROKER URI ARGS..." against
# it, then stops everything it started by PID and removes the directory.
# Exit status: PROGRAM's, or 1 if the broker could not be started.
#
# rabbitmq: Debian's rabbitmq-server (3.10) with the MQTT plugin, run as
#   the current user with its own node name, epmd port, distribution and
#   AMQP ports, data, log and config files, cookie ($HOME) under the temp
#   directory; MQTT sessions in quorum queues when MQ_RABBIT_QUORUM=1.
#   cluster.sh sources this file (MQ_RUN_BROKER_LIB=1) for its functions.
# aedes: tests/brokers/aedes/server.mjs with the committed package-lock,
#   installed with "npm ci" into $MQ_BROKERS_WORK/aedes once.
#
# Environment: MQ_BROKERS_SRC (this directory), MQ_BROKERS_WORK (a build
# directory for the npm install; default: the temp directory),
# MQ_BROKER_START_S (how long to wait for the broker, default 180).
set -eu
broker=${1:-}
[ $# -gt 0 ] && shift
src=${MQ_BROKERS_SRC:-$(cd "$(dirname "$0")" && pwd)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mq-broker-XXXXXX")
work=${MQ_BROKERS_WORK:-$tmp}
wait_s=${MQ_BROKER_START_S:-180}
pids=""
py=/usr/bin/python3

log() { echo "# run-broker: $*"; }

# A free port below Linux's ephemeral range (32768-60999), so outgoing
# connections of other tests cannot take it before the broker binds it.
free_port() {
    $py -c 'import random, socket
for _ in range(1000):
    p = random.randint(20000, 32700)
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break'
}

# port_open PORT: something accepts on 127.0.0.1:PORT
port_open() {
    $py -c 'import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

alive() { kill -0 "$1" 2>/dev/null; }

cleanup() {
    for p in $pids; do
        alive "$p" && kill "$p" 2>/dev/null || true
    done
    for p in $pids; do
        i=0
        while alive "$p" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        alive "$p" && kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_port PORT PID NAME: until PORT accepts, PID alive, wait_s seconds
wait_port() {
    i=0
    while ! port_open "$1"; do
        if ! alive "$2"; then
            log "$3 exited while starting"
            return 1
        fi
        i=$((i + 1))
        if [ $i -gt $((wait_s * 5)) ]; then
            log "$3 not listening on $1 after ${wait_s}s"
            return 1
        fi
        sleep 0.2
    done
}

dump_logs() {
    for f in "$@"; do
        [ -f "$f" ] || continue
        log "--- tail of $f"
        tail -n 40 "$f" | sed 's/^/#   /'
    done
}

start_mosquitto() {
    port=$(free_port)
    cat > "$tmp/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest file $tmp/mosquitto.log
EOF
    mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
    "$mosq" -c "$tmp/mosquitto.conf" > "$tmp/mosquitto.out" 2>&1 &
    pids="$pids $!"
    wait_port "$port" $! mosquitto || { dump_logs "$tmp/mosquitto.log"; return 1; }
    uri="mqtt://127.0.0.1:$port"
}

# start_rabbit DIR NAME [JOIN_NODE]: one RabbitMQ node; sets rabbit_pid,
# rabbit_mqtt (its MQTT port). The epmd of $tmp is started first.
start_epmd() {
    epmd_port=$(free_port)
    epmd -port "$epmd_port" -address 127.0.0.1 > "$tmp/epmd.log" 2>&1 &
    epmd_pid=$!
    pids="$pids $epmd_pid"
    wait_port "$epmd_port" "$epmd_pid" epmd
}

# Erlang distribution listeners on loopback only (default: all interfaces)
loopback_dist="-kernel inet_dist_use_interface {127,0,0,1}"

start_rabbit() {
    d=$1
    name=$2
    mkdir -p "$d/home" "$d/mnesia" "$d/log"
    rabbit_mqtt=$(free_port)
    amqp=$(free_port)
    dist=$(free_port)
    {
        echo "listeners.tcp.default = 127.0.0.1:$amqp"
        echo "mqtt.listeners.tcp.default = 127.0.0.1:$rabbit_mqtt"
        echo "mqtt.allow_anonymous = true"
        echo "loopback_users = none"
        echo "log.console = false"
        echo "log.file.level = info"
        if [ "${MQ_RABBIT_QUORUM:-0}" = 1 ]; then
            echo "mqtt.durable_queue_type = quorum"
        fi
        echo "cluster_partition_handling = ${MQ_RABBIT_PARTITIONS:-ignore}"
    } > "$d/rabbitmq.conf"
    echo "[rabbitmq_mqtt]." > "$d/enabled_plugins"
    # the Erlang cookie must be the same on cluster nodes
    printf '%s' "libmqinteroptestcookie" > "$d/home/.erlang.cookie"
    chmod 400 "$d/home/.erlang.cookie"
    (
        export HOME="$d/home" ERL_EPMD_PORT="$epmd_port" \
            RABBITMQ_NODENAME="$name@localhost" \
            RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp" \
            RABBITMQ_DIST_PORT="$dist" RABBITMQ_MNESIA_BASE="$d/mnesia" \
            RABBITMQ_LOG_BASE="$d/log" \
            RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
            RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
            RABBITMQ_CONF_ENV_FILE=/dev/null \
            RABBITMQ_PID_FILE="$d/node.pid" \
            RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" \
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$loopback_dist"
        exec /usr/lib/rabbitmq/bin/rabbitmq-server
    ) > "$d/server.out" 2>&1 &
    rabbit_sh=$!
    pids="$pids $rabbit_sh"
    i=0
    while [ ! -s "$d/node.pid" ]; do
        if ! alive "$rabbit_sh" || [ $i -gt $((wait_s * 5)) ]; then
            log "rabbitmq $name did not start"
            dump_logs "$d/server.out" "$d/log/$name@localhost.log"
            return 1
        fi
        i=$((i + 1))
        sleep 0.2
    done
    rabbit_pid=$(cat "$d/node.pid")
    pids="$rabbit_pid $pids" # the node first, then its wrapper
    wait_port "$rabbit_mqtt" "$rabbit_pid" "rabbitmq $name" ||
        { dump_logs "$d/log/$name@localhost.log"; return 1; }
}

# rabbitmqctl for node NAME of directory DIR
rctl() {
    d=$1
    name=$2
    shift 2
    (cd "$d" && HOME="$d/home" ERL_EPMD_PORT="$epmd_port" \
        RABBITMQ_CONF_ENV_FILE=/dev/null RABBITMQ_CTL_ERL_ARGS="$loopback_dist" \
        /usr/lib/rabbitmq/bin/rabbitmqctl -n "$name@localhost" "$@")
}

start_aedes() {
    dir="$work/aedes"
    mkdir -p "$dir"
    if ! cmp -s "$src/aedes/package-lock.json" "$dir/package-lock.json" ||
        [ ! -d "$dir/node_modules/aedes" ]; then
        cp "$src/aedes/package.json" "$src/aedes/package-lock.json" "$dir/"
        log "npm ci (aedes) in $dir"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2 ||
            { log "npm ci failed"; return 1; }
    fi
    cp "$src/aedes/server.mjs" "$dir/"
    port=$(free_port)
    node "$dir/server.mjs" "$port" > "$tmp/aedes.log" 2>&1 &
    pids="$pids $!"
    wait_port "$port" $! aedes || { dump_logs "$tmp/aedes.log"; return 1; }
    uri="mqtt://127.0.0.1:$port"
}

# Sourced by cluster.sh with MQ_RUN_BROKER_LIB=1: only the functions.
if [ "${MQ_RUN_BROKER_LIB:-0}" = 1 ]; then
    return 0
fi

# Missing broker software: a visible TAP skip (scripts/deps.sh installs it)
skip() {
    echo "1..0 # SKIP $1 (scripts/deps.sh installs it)"
    exit 0
}
case $broker in
mosquitto) command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] ||
    skip "mosquitto not installed" ;;
rabbitmq) [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] ||
    skip "rabbitmq-server not installed" ;;
aedes) command -v npm >/dev/null && command -v node >/dev/null ||
    skip "node/npm not installed" ;;
esac

t0=$(date +%s)
case $broker in
mosquitto) start_mosquitto ;;
rabbitmq)
    start_epmd
    start_rabbit "$tmp/r1" "mqt-$$"
    uri="mqtt://127.0.0.1:$rabbit_mqtt"
    ;;
aedes) start_aedes ;;
*)
    echo "usage: $0 mosquitto|rabbitmq|aedes PROGRAM [ARGS...]" >&2
    exit 2
    ;;
esac
log "$broker ready at $uri after $(( $(date +%s) - t0 ))s"
rc=0
"$@" "$broker" "$uri" || rc=$?
if [ $rc -ne 0 ]; then
    case $broker in
    mosquitto) dump_logs "$tmp/mosquitto.log" ;;
    rabbitmq) dump_logs "$tmp/r1/log/mqt-$$@localhost.log" ;;
    aedes) dump_logs "$tmp/aedes.log" ;;
    esac
fi
exit $rc
