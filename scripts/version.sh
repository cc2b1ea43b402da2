#!/bin/sh
# version.sh - print libmq's version (X.Y.Z) from its one source, the
# MQ_VERSION_MAJOR/MINOR/PATCH macros of libmq/include/mq.h (the header has
# to carry them for programs that compile against it).
# meson.build takes the project version from here, and from it come the
# library file version, libmq.pc and the Python package's version; the
# manifests that cannot read it (bindings/node/package.json, the rockspec,
# debian/changelog) are checked against it by the version-consistent test
# and rewritten by scripts/set-version.sh. Fails if MQ_VERSION_STRING
# disagrees with the numbers.
set -eu
hdr=$(dirname "$0")/../libmq/include/mq.h
num() { sed -n "s/^#define MQ_VERSION_$1 \([0-9][0-9]*\)\$/\1/p" "$hdr"; }
v=$(num MAJOR).$(num MINOR).$(num PATCH)
s=$(sed -n 's/^#define MQ_VERSION_STRING "\(.*\)"$/\1/p' "$hdr")
case $v in
    *..* | .* | *.) echo "version.sh: MQ_VERSION_* not found in $hdr" >&2; exit 1 ;;
esac
if [ "$s" != "$v" ]; then
    echo "version.sh: MQ_VERSION_STRING \"$s\" != $v in $hdr" >&2
    exit 1
fi
echo "$v"
