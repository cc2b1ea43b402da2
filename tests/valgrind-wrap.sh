#!/bin/sh
# valgrind-wrap.sh SUPPRESSIONS PROGRAM [ARGS...]
# The exe_wrapper of `meson test --setup=valgrind`. Runs PROGRAM under
# memcheck following children (Criterion runs each test in a child, and its
# runner ignores the child's exit status), with one log per process, and
# fails if any log reports an error, even when the program itself passed.
# Definite leaks count as errors; "still reachable" does not. Brokers and
# other helper programs the tests spawn are not traced.
set -u
supp=$1; shift
dir=$(mktemp -d "${TMPDIR:-/tmp}/vgwrap.XXXXXX") || exit 1
valgrind --trace-children=yes --child-silent-after-fork=no \
    --trace-children-skip='*/mosquitto,*/mosquitto_pub,*/mosquitto_sub,*python*' \
    --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --error-exitcode=99 --track-fds=no \
    --suppressions="$supp" --log-file="$dir/vg.%p" "$@"
rc=$?
bad=0
for f in "$dir"/vg.*; do
    [ -e "$f" ] || continue
    if grep -q 'ERROR SUMMARY: [1-9]' "$f"; then
        echo "valgrind errors in $f:" >&2
        cat "$f" >&2
        bad=1
    fi
done
rm -rf "$dir"
if [ "$bad" -ne 0 ] && [ "$rc" -eq 0 ]; then
    rc=99
fi
exit "$rc"
