#!/bin/sh
# libmq leaves the C library's process-wide generators to the application:
# it never calls srand/rand/srandom/random (reconnect jitter uses its own
# generator, libmq/src/backoff.c). Checked on the built library's imports.
set -eu
lib=$1
bad=$(nm -D --undefined-only "$lib" | awk '{print $NF}' |
      sed 's/@.*//' | grep -xE 'srand|rand|srandom|random|srand48|drand48|lrand48' || true)
if [ -n "$bad" ]; then
    echo "libmq imports: $bad"
    exit 1
fi
echo "1 passed, 0 failed"
