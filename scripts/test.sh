#!/bin/sh
# The whole libmq test suite, from a clean checkout on Debian 12:
# installs what is missing, builds, and runs every test (unit, integration
# against a real mosquitto, tools, bindings, fault injection), then the unit
# and integration suites again under ASan+UBSan. Exit status 0 = all passed.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

run() { echo "+ $*"; "$@"; }

if [ -d build-test ]; then
    run meson setup --reconfigure build-test >/dev/null
else
    run meson setup build-test >/dev/null
fi
run meson compile -C build-test
run meson test -C build-test --print-errorlogs --num-processes "$jobs"

if [ "${MQ_SKIP_ASAN:-0}" != 1 ]; then
    if [ -d build-test-asan ]; then
        run meson setup --reconfigure build-test-asan >/dev/null
    else
        run meson setup build-test-asan -Db_sanitize=address,undefined \
            -Db_lundef=false -Dlua=disabled -Dgo=disabled -Dnode=disabled \
            -Dtools=false >/dev/null
    fi
    run meson compile -C build-test-asan
    LSAN_OPTIONS=suppressions=$(pwd)/tests/lsan.supp \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run meson test -C build-test-asan --print-errorlogs \
        --num-processes "$jobs" --suite unit --suite integration
fi
echo "libmq: all tests passed"
