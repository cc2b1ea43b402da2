#!/bin/sh
# abi-baseline.sh [REV] - record the ABI of a libmq release as the baseline
# the abi-compat test compares every build with.
#
# Builds libmq.so from git revision REV (default HEAD: run it on the release
# commit, after every branch that adds API has landed) in a temporary
# directory, with debug information and TLS, and writes the abidw XML of it
# to tests/abi/libmq-<version>.abi, and the values of mq.h's constants to
# tests/abi/libmq-<version>.constants; <version> is MQ_VERSION_STRING of
# that revision. Commit both files with the release; tests/abi/abi-compat.py
# (meson test abi-compat) checks every build against them. Needs git, meson,
# ninja, gcc, libssl-dev, python3 and abidw (abigail-tools). Only the public
# header (libmq/include) is taken into account; locations and build paths
# are left out, so the output depends only on the source and the compiler.
#
# The baselines committed were made with:
#   scripts/abi-baseline.sh 5a8bc72     (0.1.0)
#   scripts/abi-baseline.sh HEAD        (0.2.0, on branch i16 after issues
#                                        12, 13 and 19 landed; re-run it on
#                                        the release commit if a branch adds
#                                        to LIBMQ_0.2 before 0.2.0 is tagged:
#                                        the abi-compat test fails until then)
set -eu
rev=${1:-HEAD}
top=$(git rev-parse --show-toplevel)
for t in abidw meson ninja; do
    command -v "$t" >/dev/null || { echo "abi-baseline: $t not found" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
git -C "$top" archive "$rev" | tar -x -C "$tmp/src"
version=$(sed -n 's/^#define MQ_VERSION_STRING "\(.*\)"$/\1/p' \
    "$tmp/src/libmq/include/mq.h")
[ -n "$version" ] || { echo "abi-baseline: no MQ_VERSION_STRING in mq.h at $rev" >&2; exit 1; }
# Only the library is built (tests and tools off; binding options are left
# to auto, so this works on revisions that predate some of them).
meson setup "$tmp/build" "$tmp/src" --buildtype=debugoptimized \
    -Dtls=enabled -Dtests=false -Dtools=false >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log" >&2; exit 1; }
ninja -C "$tmp/build" "libmq/libmq.so.$version" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log" >&2; exit 1; }
out=$top/tests/abi/libmq-$version.abi
abidw --headers-dir "$tmp/src/libmq/include" --no-corpus-path \
    --no-comp-dir-path --no-show-locs --type-id-style hash \
    --out-file "$out" "$tmp/build/libmq/libmq.so.$version"
python3 "$top/tests/abi/abi-compat.py" constants "$tmp/src/libmq/include" \
    >"${out%.abi}.constants"
echo "abi-baseline: $(git -C "$top" rev-parse --short "$rev") -> ${out#"$top"/}" \
    "($(grep -c '<elf-symbol ' "$out") ELF symbols," \
    "$(wc -l <"${out%.abi}.constants") constants)"
