#!/bin/sh
# Install what libmq needs to build and test on Debian 12, only what is
# missing. Used by scripts/demo.sh and scripts/test.sh. Needs root (or sudo).
set -eu
PKGS="meson ninja-build gcc g++ pkg-config libssl-dev openssl \
libcriterion-dev mosquitto mosquitto-clients python3-paho-mqtt \
swig lua5.4 liblua5.4-dev lua-busted lua-luv golang-go \
libmosquitto-dev libpaho-mqtt-dev valgrind clang libclang-rt-14-dev \
python3-dev python3-pytest python3-mesonpy patchelf"
[ $# -gt 0 ] && PKGS="$*"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
