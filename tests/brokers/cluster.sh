#!/bin/sh
# cluster.sh [quorum|classic] [NODES] - by hand (about 2 minutes, too slow
# for CI): a RabbitMQ cluster of NODES nodes (default 2) on loopback, each
# with its own node name, ports and data directory, clustered with
# RabbitMQ's own join_cluster; MQTT sessions in quorum queues
# (mqtt.durable_queue_type = quorum, the default here) or classic ones.
# Then failover.c: a persistent QoS 1 subscriber with every node in its
# server list, connected to node 1, a publisher on node 2 publishing
# numbered QoS 1 messages, and node 1 killed with kill -9 mid-stream. It
# prints the failover time and which acknowledged messages never arrived.
# Everything is stopped by PID at the end (run-broker.sh's cleanup).
#
# Environment: MQ_FAILOVER (the failover binary, default
# build/tests/brokers/brokers_failover), MQ_FAILOVER_COUNT (400),
# MQ_FAILOVER_INTERVAL_MS (25).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
failover=${MQ_FAILOVER:-$here/../../build/tests/brokers/brokers_failover}
mode=${1:-quorum}
nodes=${2:-2}
[ -x "$failover" ] || { echo "build $failover first" >&2; exit 2; }
MQ_RABBIT_QUORUM=0
[ "$mode" = quorum ] && MQ_RABBIT_QUORUM=1
MQ_RUN_BROKER_LIB=1
# shellcheck source=run-broker.sh
. "$here/run-broker.sh"

t0=$(date +%s)
start_epmd
uris=""
k=1 # (run-broker.sh's functions use i)
while [ "$k" -le "$nodes" ]; do
    start_rabbit "$tmp/n$k" "mqc$k-$$"
    eval "pid$k=$rabbit_pid mqtt$k=$rabbit_mqtt"
    uris="$uris mqtt://127.0.0.1:$rabbit_mqtt"
    if [ "$k" -gt 1 ]; then
        rctl "$tmp/n$k" "mqc$k-$$" stop_app >/dev/null
        rctl "$tmp/n$k" "mqc$k-$$" join_cluster "mqc1-$$@localhost" >/dev/null
        rctl "$tmp/n$k" "mqc$k-$$" start_app >/dev/null
        wait_port "$rabbit_mqtt" "$rabbit_pid" "node $k"
    fi
    k=$((k + 1))
done
log "cluster of $nodes nodes ($mode queues) up after $(( $(date +%s) - t0 ))s"
rctl "$tmp/n1" "mqc1-$$" cluster_status 2>/dev/null |
    sed -n '/Running Nodes/,/Versions/p' | sed 's/^/# /'

# subscriber: every node, node 1 first; publisher: node 2 first
pub="mqtt://127.0.0.1:$mqtt2 mqtt://127.0.0.1:$mqtt1"
rc=0
# shellcheck disable=SC2154,SC2086
"$failover" "$(echo $uris)" "$pub" "$pid1" "${MQ_FAILOVER_COUNT:-400}" \
    "${MQ_FAILOVER_INTERVAL_MS:-25}" || rc=$?
log "queues on node 2 after the run:"
rctl "$tmp/n2" "mqc2-$$" -t 15 list_queues name type messages 2>&1 |
    sed 's/^/#   /' | head -20 || true
log "node 2 log, the end:"
grep -v "^ *$" "$tmp/n2/log/mqc2-$$@localhost.log" | cut -c1-220 |
    tail -n "${MQ_CLUSTER_LOG_LINES:-25}" | sed 's/^/#   /' || true
exit $rc
