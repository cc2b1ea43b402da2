#!/bin/sh
# fuzz-run.sh FUZZER WORKDIR SEEDDIR SECONDS [libFuzzer args...]
# Runs a libFuzzer target for a bounded time: new inputs go to WORKDIR (in
# the build tree), SEEDDIR (in the source tree) is only read. Crash inputs
# are written to WORKDIR/../<name>-artifacts/. Exit status is the fuzzer's.
set -eu
fuzzer=$1; work=$2; seeds=$3; secs=$4; shift 4
name=$(basename "$fuzzer")
art=$(dirname "$work")/$name-artifacts/
mkdir -p "$work" "$art"
exec "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art" "$@" "$work" "$seeds"
