#!/bin/sh
# fuzz/run.sh TARGET SECONDS
#
# Builds fuzz/TARGET.c with clang, libFuzzer, ASan and UBSan, runs it for
# SECONDS and prints the number of executions.  The target names what it
# links in two comment lines at its top (paths relative to the repository):
#   /* fuzz-sources: fifo/chunked.c fifo/fifo.c */
#   /* fuzz-libs: -lz */
# APR's flags are always added; include dirs: the top, fifo/, t/unit.
#
# Inputs found are kept in a fresh temporary corpus; fuzz/corpus/TARGET/
# seeds it when present (read only), fuzz/TARGET.dict is used when present.
# Exit status: 0 no crash; 1 a crash, timeout or leak (the log and the
# reproducer are kept, their directory printed); 2 usage or build error.
# Environment: CC (default clang), FUZZ_CFLAGS (extra compiler flags, e.g.
# -DXSF_NO_OPENAT2), FUZZ_ARGS (extra libFuzzer options).
set -eu

usage() {
    echo "usage: $0 TARGET SECONDS" >&2
    exit 2
}

[ $# -eq 2 ] || usage
target=$1
seconds=$2
case $seconds in '' | *[!0-9]*) usage ;; esac

top=$(cd "$(dirname "$0")/.." && pwd)
src=$top/fuzz/$target.c
[ -f "$src" ] || { echo "$0: no such target: $src" >&2; exit 2; }

# The text of the target's "/* fuzz-NAME: ... */" line.
header() {
    sed -n "s|^/\* *fuzz-$1:\(.*\)\*/ *\$|\1|p" "$src" | head -n 1
}

sources=
for s in $(header sources); do
    sources="$sources $top/$s"
done
libs=$(header libs)

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$target.XXXXXX")
bin=$work/$target

# shellcheck disable=SC2086 # word splitting of the flag lists is wanted
${CC:-clang} -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    ${FUZZ_CFLAGS:-} $(apr-1-config --cppflags --includes) -I"$top" -I"$top/fifo" -I"$top/t/unit" \
    "$src" $sources $libs $(apr-1-config --link-ld --libs) -o "$bin" || {
    echo "$0: building $target failed" >&2
    rm -rf "$work"
    exit 2
}

mkdir "$work/corpus"
seeds=
[ -d "$top/fuzz/corpus/$target" ] && seeds=$top/fuzz/corpus/$target
dict=
[ -f "$top/fuzz/$target.dict" ] && dict=-dict=$top/fuzz/$target.dict

# The target's own temporary files go under $work too, and go with it.
set +e
# shellcheck disable=SC2086
(cd "$work" && TMPDIR=$work "$bin" -max_total_time="$seconds" -timeout=25 \
    -print_final_stats=1 -artifact_prefix="$work/" $dict ${FUZZ_ARGS:-} \
    "$work/corpus" $seeds) >"$work/log" 2>&1
rc=$?
set -e

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
echo "$target: ${execs:-unknown} executions in ${seconds} s," \
    "$(ls "$work/corpus" | wc -l) new corpus inputs"
if [ $rc -ne 0 ]; then
    tail -n 60 "$work/log"
    echo "$target: FAILED (exit $rc): log and reproducer in $work" >&2
    exit 1
fi
rm -rf "$work"
