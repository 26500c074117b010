#!/bin/sh
# fifo/fuzz/run.sh TARGET SECONDS
#
# Builds a libFuzzer target with clang, ASan and UBSan, runs it for SECONDS
# and prints the number of executions.  TARGET is a name (fifo/fuzz/NAME.c)
# or the path of a target's .c file elsewhere (the module's fuzz/run.sh
# passes its own this way).
#
# A target names what it links in two comment lines at its top, paths
# relative to its base directory, the one above the target's own (fifo/ for
# fifo/fuzz/NAME.c), which is also on the include path:
#   /* fuzz-sources: chunked.c fifo.c */
#   /* fuzz-libs: -lz */
#
# Inputs found are kept in a fresh temporary corpus; corpus/NAME/ beside the
# target seeds it when present (read only), NAME.dict beside it is used when
# present.  Exit status: 0 no crash; 1 a crash, timeout or leak (the log and
# the reproducer are kept, their directory printed); 2 usage or build error.
# Environment: CC (default clang), FUZZ_CFLAGS and FUZZ_LIBS (extra compiler
# and linker flags), FUZZ_ARGS (extra libFuzzer options).
set -eu

usage() {
    echo "usage: $0 TARGET SECONDS" >&2
    exit 2
}

[ $# -eq 2 ] || usage
seconds=$2
case $seconds in '' | *[!0-9]*) usage ;; esac
case $1 in
*.c) src=$1 ;;
*) src=$(cd "$(dirname "$0")" && pwd)/$1.c ;;
esac
[ -f "$src" ] || { echo "$0: no such target: $src" >&2; exit 2; }
dir=$(cd "$(dirname "$src")" && pwd)
base=$(dirname "$dir")
target=$(basename "$src" .c)

# The text of the target's "/* fuzz-NAME: ... */" line.
header() {
    sed -n "s|^/\* *fuzz-$1:\(.*\)\*/ *\$|\1|p" "$src" | head -n 1
}

sources=
for s in $(header sources); do
    sources="$sources $base/$s"
done
libs=$(header libs)

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$target.XXXXXX")
bin=$work/$target

# shellcheck disable=SC2086 # word splitting of the flag lists is wanted
${CC:-clang} -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    ${FUZZ_CFLAGS:-} -I"$base" "$src" $sources $libs ${FUZZ_LIBS:-} -o "$bin" || {
    echo "$0: building $target failed" >&2
    rm -rf "$work"
    exit 2
}

mkdir "$work/corpus"
seeds=
[ -d "$dir/corpus/$target" ] && seeds=$dir/corpus/$target
dict=
[ -f "$dir/$target.dict" ] && dict=-dict=$dir/$target.dict

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
