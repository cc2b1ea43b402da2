#!/bin/sh
# soak.sh - the soak test, by hand (issue 21 item 3): two libmq clients
# publish to each other (100 msg/s each way, QoS 1 and 2, persistence on)
# through fault proxies to a mosquitto with persistence, while connections
# are cut, stalled, trickled and delayed and the broker is killed -9 and
# restarted every 2-10 s. Every 10 s the RSS and descriptor count of each
# client are sampled; at the end the verdict checks that nothing was lost
# and that RSS and descriptors stayed flat (last fifth of the run against
# the second fifth: within 1 MiB or 5 %, descriptors not above).
#
# usage: tests/chaos/soak.sh [BUILD_DIR [SECONDS [OUT_DIR]]]
#   BUILD_DIR  a configured and built meson dir (default: build)
#   SECONDS    length of the fault phase (default: 1800, 30 minutes)
#   OUT_DIR    where the logs, samples.csv and report.md go
#              (default: a new /tmp/mq-soak-XXXXXX)
# Exit status: the chaos program's (0 = no loss, no growth).
set -eu
build=${1:-build}
secs=${2:-1800}
out=${3:-$(mktemp -d /tmp/mq-soak-XXXXXX)}
chaos="$build/tests/chaos/chaos"
if [ ! -x "$chaos" ]; then
    echo "soak: $chaos not found: meson setup $build && ninja -C $build" >&2
    exit 2
fi
mkdir -p "$out"
echo "soak: $secs s, logs in $out/run, report in $out/report.md"
status=0
"$chaos" --mode soak --seconds "$secs" --sample-ms 10000 --keep \
    --dir "$out/run" --report "$out/report.md" || status=$?
echo "soak: samples (seconds, client, incarnation, RSS KiB, descriptors):"
echo "      $out/run/samples.csv"
exit $status
