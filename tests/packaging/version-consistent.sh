#!/bin/sh
# version-consistent.sh <srcroot> <meson version> <libmq.pc> - every place
# that states libmq's version agrees with its source, the MQ_VERSION_*
# macros of mq.h (scripts/version.sh): the meson project, the generated
# libmq.pc, the Python package (dynamic: meson's), the npm package, the
# rockspec, debian/changelog, NEWS.md and the committed Go SWIG output.
# scripts/set-version.sh X.Y.Z makes them agree.
set -u
root=$1
meson_v=$2
pc=$3
fail=0
bad() { echo "FAIL: $*"; fail=1; }

v=$("$root/scripts/version.sh") || exit 1
echo "version (mq.h): $v"
[ "$meson_v" = "$v" ] || bad "meson project version $meson_v"
pc_v=$(sed -n 's/^Version: //p' "$pc")
[ "$pc_v" = "$v" ] || bad "$pc says $pc_v"

grep -q '^dynamic = \["version"\]' "$root/pyproject.toml" ||
    bad "pyproject.toml: the version must be dynamic (from meson)"
! grep -q '^version *=' "$root/pyproject.toml" ||
    bad "pyproject.toml has a static version"

npm_v=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$root/bindings/node/package.json")
[ "$npm_v" = "$v" ] || bad "bindings/node/package.json says $npm_v"

for r in "$root"/bindings/lua/*.rockspec; do
    [ -f "$r" ] || continue
    case $(basename "$r") in
        "libmq-$v-"[0-9]*.rockspec) ;;
        *) bad "rockspec $(basename "$r") is not for $v" ;;
    esac
    grep -q "^version = \"$v-[0-9]*\"" "$r" || bad "$(basename "$r"): version field"
done

if [ -f "$root/debian/changelog" ]; then
    deb_v=$(sed -n '1s/^libmq (\([^)]*\)).*/\1/p' "$root/debian/changelog")
    [ "${deb_v%-*}" = "$v" ] || bad "debian/changelog's last entry is $deb_v"
fi

grep -q "^## $v\( \|\$\)" "$root/NEWS.md" || bad "NEWS.md has no section for $v"

go_v=$(sed -n 's/^const MQ_VERSION_STRING string = "\(.*\)"$/\1/p' \
    "$root/bindings/go/internal/cmq/cmq.go")
[ "$go_v" = "$v" ] ||
    bad "bindings/go/internal/cmq/cmq.go says $go_v (ninja go-swig)"

[ $fail -eq 0 ] && echo "ok: $v everywhere"
exit $fail
