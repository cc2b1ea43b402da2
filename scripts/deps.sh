#!/bin/sh
# Install what libmq needs to build and test on Debian 12, only what is
# missing. Used by scripts/demo.sh and scripts/test.sh. Needs root (or sudo).
set -eu
PKGS="meson ninja-build gcc g++ pkg-config libssl-dev openssl \
libcriterion-dev mosquitto mosquitto-clients python3-paho-mqtt \
swig lua5.4 liblua5.4-dev lua-busted lua-luv golang-go \
libmosquitto-dev libpaho-mqtt-dev valgrind clang libclang-rt-14-dev \
python3-dev python3-pytest python3-mesonpy patchelf \
rabbitmq-server softhsm2 libengine-pkcs11-openssl tinyproxy dante-server \
python3-socks"
# tests/brokers: npm installs aedes (Debian's npm only where no nodejs
# with its own npm is installed)
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
# Packaging (scripts/package.sh, tests/packaging): the ABI check, Debian
# packages, lintian, luarocks, pip's virtual environments; Node's headers
# (/usr/include/node) for node-libmq and npm's addon build: Debian's are in
# libnode-dev, another nodejs (NodeSource's) ships them itself.
PKGS="$PKGS abigail-tools debhelper dh-python lintian luarocks zip unzip fakeroot \
dpkg-dev python3-venv"
[ -e /usr/include/node/node.h ] || PKGS="$PKGS libnode-dev"
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
# Packages with services (rabbitmq-server, epmd, mosquitto) must not start
# system-wide brokers: the tests start their own on free ports. Deny
# service starts during the install unless a policy is already in place.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
    { [ -z "$policy" ] || $SUDO rm -f "$policy"; exit 1; }
[ -z "$policy" ] || $SUDO rm -f "$policy"
