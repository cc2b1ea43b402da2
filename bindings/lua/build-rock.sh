#!/bin/sh
# build-rock.sh LUA_INCDIR CC CFLAGS LIBFLAG - the build step of the rockspec
# (luarocks build type "command", run from the source root): compiles
# mq_core.so, the SWIG layer under mq.lua, against the libmq that pkg-config
# finds, which must be at least this source's version (the SWIG layer is
# made from this source's mq.h). The SWIG output is made afresh when swig is
# there (SWIG=... names another swig, SWIG=none uses none), else taken from
# the source (scripts/package.sh puts it in the rock).
set -eu
luainc=$1
cc=${2:-cc}
cflags=${3:-"-O2 -fPIC"}
libflag=${4:-"-shared"}
dir=bindings/lua
version=$(sh scripts/version.sh)
wrap=$dir/mq_lua_wrap.c

if ! pkg-config --atleast-version="$version" libmq; then
    found=$(pkg-config --modversion libmq 2>/dev/null || echo none)
    echo "libmq >= $version not found by pkg-config (found: $found)." >&2
    echo "Install it (Debian: apt install libmq-dev) or point PKG_CONFIG_PATH" \
        "at the directory of its libmq.pc." >&2
    exit 1
fi
swig=${SWIG:-swig}
if command -v "$swig" >/dev/null; then
    "$swig" -lua -module mq_core -Ilibmq/include -o "$wrap" bindings/mq.i
elif [ ! -f "$wrap" ]; then
    echo "swig is needed to build from a checkout (Debian: apt install swig);" \
        "a packed rock (scripts/package.sh rock) has its output already." >&2
    exit 1
fi
libdir=$(pkg-config --variable=libdir libmq)
rpath=""
case $libdir in
    /usr/lib | /usr/lib/*-linux-gnu* | /lib | /lib/*-linux-gnu*) ;;
    *) rpath="-Wl,-rpath,$libdir" ;;
esac
set -x
# shellcheck disable=SC2086
"$cc" $cflags -I"$luainc" $(pkg-config --cflags libmq) -Wno-unused-parameter \
    -c -o "$dir/mq_lua_wrap.o" "$wrap"
# shellcheck disable=SC2086
"$cc" $libflag -o "$dir/mq_core.so" "$dir/mq_lua_wrap.o" \
    $(pkg-config --libs libmq) $rpath
rm -f "$dir/mq_lua_wrap.o"
