#!/bin/sh
# set-version.sh X.Y.Z - change libmq's version everywhere, from its source
# (the MQ_VERSION_* macros of libmq/include/mq.h, read by scripts/version.sh)
# to the manifests that cannot read it: bindings/node/package.json, the
# rockspec (renamed bindings/lua/libmq-X.Y.Z-1.rockspec), debian/changelog
# (a new entry, maintainer from DEBFULLNAME/DEBEMAIL) and NEWS (a heading).
# Then regenerates what is derived from mq.h: docs/api and the Go SWIG
# output. Review with `git diff`; the version-consistent test checks the
# result. A version that adds API also needs its ABI baseline when it is
# released: scripts/abi-baseline.sh.
set -eu
new=${1:?usage: set-version.sh X.Y.Z}
echo "$new" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' ||
    { echo "set-version: $new is not X.Y.Z" >&2; exit 2; }
cd "$(dirname "$0")/.."
old=$(scripts/version.sh)
major=${new%%.*}
rest=${new#*.}
minor=${rest%%.*}
patch=${rest#*.}

sed -i -e "s/^#define MQ_VERSION_MAJOR [0-9]*\$/#define MQ_VERSION_MAJOR $major/" \
    -e "s/^#define MQ_VERSION_MINOR [0-9]*\$/#define MQ_VERSION_MINOR $minor/" \
    -e "s/^#define MQ_VERSION_PATCH [0-9]*\$/#define MQ_VERSION_PATCH $patch/" \
    -e "s/^#define MQ_VERSION_STRING \".*\"\$/#define MQ_VERSION_STRING \"$new\"/" \
    libmq/include/mq.h
[ "$(scripts/version.sh)" = "$new" ]

sed -i "s/^  \"version\": \"[^\"]*\",/  \"version\": \"$new\",/" \
    bindings/node/package.json

for r in bindings/lua/libmq-*-1.rockspec; do
    [ -f "$r" ] || continue
    dst=bindings/lua/libmq-$new-1.rockspec
    if [ "$r" != "$dst" ]; then
        git mv "$r" "$dst" 2>/dev/null || mv "$r" "$dst"
    fi
    oldre=$(echo "$old" | sed 's/\./\\./g')
    sed -i -e "s/^version = \".*\"/version = \"$new-1\"/" \
        -e "s/^   tag = \"v.*\"/   tag = \"v$new\"/" \
        -e "s/libmq-$oldre-1/libmq-$new-1/g" "$dst"
done

if [ -f debian/changelog ] &&
    ! head -1 debian/changelog | grep -q "^libmq ($new-"; then
    who="${DEBFULLNAME:-libmq maintainers} <${DEBEMAIL:-maintainers@libmq.invalid}>"
    {
        printf 'libmq (%s-1) unstable; urgency=medium\n\n' "$new"
        printf '  * New upstream release %s (see NEWS).\n\n' "$new"
        printf ' -- %s  %s\n\n' "$who" "$(date -R)"
        cat debian/changelog
    } >debian/changelog.new
    mv debian/changelog.new debian/changelog
fi

if ! grep -q "^## $new" NEWS.md; then
    {
        sed -n '1,/^## /{/^## /!p}' NEWS.md
        printf '## %s (unreleased)\n\n- \n\n' "$new"
        sed -n '/^## /,$p' NEWS.md
    } >NEWS.md.new
    mv NEWS.md.new NEWS.md
fi

python3 scripts/gen-api-docs.py
if command -v swig >/dev/null; then
    bindings/go/gen.sh swig "$(pwd)/bindings/go/internal/cmq"
else
    echo "set-version: swig not found: regenerate the Go SWIG output" \
        "(ninja -C <build> go-swig)" >&2
fi
echo "set-version: $old -> $new"
