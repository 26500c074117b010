#!/bin/sh
# fuzz/run.sh TARGET SECONDS
#
# Fuzzes fuzz/TARGET.c, the module's targets, or fifo/fuzz/TARGET.c, the
# fifo library's, with the library's runner (fifo/fuzz/run.sh: how a target
# names what it links, the corpus and dictionary beside it, the exit
# status), adding APR's compiler and linker flags, which the module's
# targets need.  Environment as for that runner: CC, FUZZ_CFLAGS (e.g.
# -DXSF_NO_OPENAT2), FUZZ_LIBS, FUZZ_ARGS.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 TARGET SECONDS" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
src=$top/fuzz/$1.c
[ -f "$src" ] || src=$top/fifo/fuzz/$1.c

FUZZ_CFLAGS="$(apr-1-config --cppflags --includes) ${FUZZ_CFLAGS:-}" \
FUZZ_LIBS="$(apr-1-config --link-ld --libs) ${FUZZ_LIBS:-}" \
    exec sh "$top/fifo/fuzz/run.sh" "$src" "$2"
