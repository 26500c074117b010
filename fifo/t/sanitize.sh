#!/bin/sh
# fifo/t/sanitize.sh SANITIZERS
#
# Builds the fifo library's tests with -fsanitize=SANITIZERS in a scratch
# directory and runs them: `address,undefined` runs every test,
# `thread` the tests with threads (test_fifo, and test_stress on 64 MiB:
# ThreadSanitizer slows it down ten times).  Fails when a test fails or a
# sanitizer reports anything.  CC chooses the compiler (default cc).
# `make -C fifo check-asan` and `make -C fifo check-tsan` run it.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 address,undefined|thread" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
work=$(mktemp -d "${TMPDIR:-/tmp}/fifo-sanitize.XXXXXX")
trap 'rm -rf "$work"' EXIT

case $1 in
*thread*)
    tests="test_fifo test_stress"
    flags=
    ;;
*)
    tests="test_fifo test_enomem test_chunked test_deflate test_pipeline test_stress"
    flags=-fno-sanitize-recover=all
    ;;
esac
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

status=0
for t in $tests; do
    args=
    [ "$t" = test_stress ] && [ -z "$flags" ] && args=quick
    ${CC:-cc} -g -O1 -fno-omit-frame-pointer -fsanitize="$1" $flags \
        -Wall -Wextra -Werror -pthread -I"$src" "$here/$t.c" \
        "$src/fifo.c" "$src/chunked.c" "$src/deflate.c" "$src/pipeline.c" -lz -o "$work/$t"
    start=$(date +%s)
    # shellcheck disable=SC2086 # no argument or one
    if "$work/$t" $args >"$work/$t.log" 2>&1 && ! grep -q '^not ok' "$work/$t.log"; then
        echo "$t ($1): ok, $(grep -c '^ok' "$work/$t.log") assertions, $(($(date +%s) - start)) s"
    else
        echo "$t ($1): FAILED"
        grep -v '^ok' "$work/$t.log" | head -n 80
        status=1
    fi
done
exit $status
