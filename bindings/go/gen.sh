#!/bin/sh
# gen.sh SWIG OUTDIR - regenerate the Go SWIG output (cmq.go, mq_wrap.c)
# from bindings/mq.i and libmq/include/mq.h into OUTDIR (absolute path).
# Runs from bindings/ with relative inputs so the output does not depend on
# where the checkout lives.
set -eu
swig=$1
out=$2
mkdir -p "$out"
cd "$(dirname "$0")/.."
"$swig" -go -cgo -intgosize 64 -module cmq -I../libmq/include \
    -o "$out/mq_wrap.c" -outdir "$out" mq.i
