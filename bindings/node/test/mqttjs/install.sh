#!/bin/sh
# install.sh DEST CMD [ARGS...] - install MQTT.js (the exact version of
# package-lock.json beside this script) into DEST with `npm ci`, unless it
# is there already, then run CMD with MQTTJS_DIR=DEST/node_modules. When
# npm is missing or cannot install, CMD runs without MQTTJS_DIR (the
# MQTT.js tests then report themselves as skipped).
set -u
here=$(cd "$(dirname "$0")" && pwd)
dest=$1
shift
mkdir -p "$dest"
if ! cmp -s "$here/package-lock.json" "$dest/package-lock.json" ||
   [ ! -f "$dest/node_modules/mqtt/package.json" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "install.sh: npm not found; MQTT.js tests skipped" >&2
        exec "$@"
    fi
    cp "$here/package.json" "$here/package-lock.json" "$dest/"
    if ! (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1); then
        echo "install.sh: npm ci failed; MQTT.js tests skipped:" >&2
        cat "$dest/npm.log" >&2
        rm -f "$dest/package-lock.json"
        exec "$@"
    fi
fi
MQTTJS_DIR=$dest/node_modules
export MQTTJS_DIR
exec "$@"
