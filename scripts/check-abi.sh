#!/bin/sh
# ABI ledger check: the symbols libmq.so exports == the names in libmq.map ==
# the MQ_API declarations in mq.h. Usage: check-abi.sh <libmq.so> <srcroot>
set -eu
so=$1
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$so" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' |
    sort > "$tmp/exported"
grep -oE '^[[:space:]]+mq_[a-z0-9_]+;' "$root/libmq/libmq.map" | tr -d ' \t;' |
    sort > "$tmp/map"
grep -oE '^MQ_API [^(]*\(' "$root/libmq/include/mq.h" |
    sed -E 's/.*[ *]([a-z0-9_]+)\($/\1/' | sort > "$tmp/header"
ok=0
if ! diff -u "$tmp/map" "$tmp/exported" >"$tmp/d1"; then
    echo "exported symbols differ from libmq.map:"; cat "$tmp/d1"; ok=1
fi
if ! diff -u "$tmp/map" "$tmp/header" >"$tmp/d2"; then
    echo "libmq.map differs from the MQ_API declarations in mq.h:"; cat "$tmp/d2"; ok=1
fi
soname=$(objdump -p "$so" | awk '/SONAME/ { print $2 }')
[ "$soname" = "libmq.so.0" ] || { echo "unexpected SONAME $soname"; ok=1; }
[ $ok -eq 0 ] && echo "ABI ledger consistent: $(wc -l < "$tmp/map") symbols, SONAME $soname"
exit $ok
