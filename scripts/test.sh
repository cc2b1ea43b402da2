#!/bin/sh
# The whole libmq test suite, from a clean checkout on Debian 12. It installs
# what is missing (apt-get), builds, and runs:
#   1. every test: unit, integration against a real mosquitto, TLS and the
#      other transports, tools, bindings (Lua, Go, Node), fault injection,
#      stress, persistence crash tests, API/ABI checks, the Python
#      binding's pytest suite;
#   2. unit, integration, transport, fault and stress again under ASan+UBSan;
#   3. the threaded stress and fault programs under TSan;
#   4. the libFuzzer targets for a bounded time (clang);
#   5. the fault and stress programs under valgrind memcheck;
#   6. packaging: every artifact built, installed and used as its ecosystem
#      does, then removed (tests/packaging/run.sh; needs root).
# Exit status 0 = all passed. Stages 2-6 can be skipped with MQ_SKIP_ASAN=1,
# MQ_SKIP_TSAN=1, MQ_SKIP_FUZZ=1, MQ_SKIP_VALGRIND=1, MQ_SKIP_PACKAGING=1;
# the interop tests against RabbitMQ and aedes (tests/brokers) in stage 1
# with MQ_SKIP_BROKERS=1.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
top=$(pwd)
nobind="-Dlua=disabled -Dgo=disabled -Dnode=disabled -Dpython=disabled -Dtools=false"

run() { echo "+ $*"; "$@"; }

# setup DIR [meson options...]: configure once, reconfigure afterwards
setup() {
    dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        run meson setup --reconfigure "$dir" >/dev/null
    else
        run meson setup "$dir" "$@" >/dev/null
    fi
}

echo "== 1. full suite"
setup build-test
run meson compile -C build-test
# tests/brokers (RabbitMQ, aedes: ~1 min) can be left out while iterating
nobrokers=""
[ "${MQ_SKIP_BROKERS:-0}" = 1 ] && nobrokers="--no-suite brokers"
# shellcheck disable=SC2086
run meson test -C build-test --print-errorlogs --num-processes "$jobs" \
    $nobrokers

if [ "${MQ_SKIP_ASAN:-0}" != 1 ]; then
    echo "== 2. ASan + UBSan"
    # shellcheck disable=SC2086
    setup build-test-asan -Db_sanitize=address,undefined -Db_lundef=false $nobind
    run meson compile -C build-test-asan
    LSAN_OPTIONS=suppressions=$top/tests/lsan.supp \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run meson test -C build-test-asan --print-errorlogs \
        --num-processes "$jobs" --suite unit --suite integration \
        --suite transport --suite fault --suite stress
fi

if [ "${MQ_SKIP_ASAN:-0}" != 1 ] && [ "${MQ_SKIP_CHAOS:-0}" != 1 ]; then
    echo "== 2b. chaos test under ASan + UBSan (publishers, subscriber and broker"
    echo "   killed -9, network faults; ~90 s; MQ_SKIP_CHAOS=1 skips it; long runs"
    echo "   and the soak: tests/chaos/README.md)"
    LSAN_OPTIONS=suppressions=$top/tests/lsan.supp \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run meson test -C build-test-asan --print-errorlogs --suite chaos
fi

if [ "${MQ_SKIP_TSAN:-0}" != 1 ]; then
    echo "== 3. TSan (plain-main threaded programs; Criterion cannot run here)"
    # shellcheck disable=SC2086
    setup build-test-tsan -Db_sanitize=thread -Db_lundef=false $nobind
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        run meson test -C build-test-tsan --print-errorlogs \
        --num-processes "$jobs" --suite stress --suite fault
fi

if [ "${MQ_SKIP_FUZZ:-0}" != 1 ] && command -v clang >/dev/null; then
    echo "== 4. fuzzing (bounded; longer runs: tests/fuzz/fuzz-run.sh by hand)"
    if [ ! -f build-test-fuzz/build.ninja ]; then
        # shellcheck disable=SC2086
        CC=clang run meson setup build-test-fuzz \
            -Db_sanitize=address,undefined -Db_lundef=false $nobind >/dev/null
    fi
    run meson test -C build-test-fuzz --print-errorlogs --suite fuzz
fi

if [ "${MQ_SKIP_VALGRIND:-0}" != 1 ] && command -v valgrind >/dev/null; then
    echo "== 5. valgrind memcheck"
    run meson test -C build-test --setup=valgrind --print-errorlogs \
        --num-processes "$jobs" --suite stress --suite fault
fi
if [ "${MQ_SKIP_PACKAGING:-0}" != 1 ]; then
    # Packaging: every package built the way its ecosystem installs it,
    # installed, used as its users do, removed (tests/packaging/run.sh;
    # needs root; skipped with MQ_SKIP_PACKAGING=1; exit 77 = skipped, with
    # the reason printed).
    echo "== 6. packaging"
    rc=0
    tests/packaging/run.sh "$top/build-pkg" || rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 77 ] || exit $rc
fi
echo "libmq: all tests passed"
