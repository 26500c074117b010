#!/bin/sh
# fifo/bench/run.sh BENCH RESULTS.md    writes the results file
# fifo/bench/run.sh BENCH --check       exits 1 when a goal is missed
#
# Runs fifo_bench (BENCH, as built by `make -C fifo bench`).
# PICOHTTPPARSER=DIR names a picohttpparser checkout: its picohttpparser.c
# is compiled here, into a scratch directory, with the benchmark's own
# optimisation (-O2), and loaded by the benchmark as the chunked decoding
# baseline.  Nothing is downloaded; without it the benchmark uses its own
# in-place decoder and says so.  ROUNDS=N changes the rounds (default 9).
set -eu

[ $# -eq 2 ] || { echo "usage: $0 BENCH RESULTS.md|--check" >&2; exit 2; }
bench=$1
out=$2
scratch=$(mktemp -d "${TMPDIR:-/tmp}/fifo-bench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

pico=
if [ -n "${PICOHTTPPARSER:-}" ]; then
    if ${CC:-cc} -O2 -shared -fPIC "$PICOHTTPPARSER/picohttpparser.c" -o "$scratch/libpico.so"; then
        pico="picohttpparser from $PICOHTTPPARSER$(git -C "$PICOHTTPPARSER" log -1 \
            --format=' (commit %h, %cs)' 2>/dev/null || true), built with ${CC:-cc} -O2"
        export FIFO_BENCH_PICO="$scratch/libpico.so"
    else
        echo "$0: cannot build $PICOHTTPPARSER/picohttpparser.c; going on without it" >&2
    fi
fi

if [ "$out" = --check ]; then
    exec "$bench" --check --rounds "${ROUNDS:-9}"
fi

{
    echo "# fifo benchmark results"
    echo
    echo "Written by \`make -C fifo bench\` (fifo/bench/run.sh); see the"
    echo "\"Benchmark\" section of fifo/README.md for what each row measures."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) processors, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1),"
    echo "  load average before the run: $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)"
    echo "- compiler: $(${CC:-cc} --version | head -n 1)"
    echo "- chunked baseline: ${pico:-none given (set PICOHTTPPARSER=DIR to a picohttpparser checkout)}"
    echo
    "$bench" --rounds "${ROUNDS:-9}"
    echo
    echo "Load average after the run: $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null)."
} >"$scratch/results.md"
mv "$scratch/results.md" "$out"
cat "$out"
