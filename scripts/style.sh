#!/bin/sh
# The tree's C style: layout by clang-format (.clang-format), braces on
# every if/else/for/while body by clang-tidy's
# readability-braces-around-statements.
#
#   scripts/style.sh          check; exits 1 and names what differs
#   scripts/style.sh --fix    rewrite the files in place
#
# Needs clang-format and clang-tidy (Debian's clang-format, clang-tidy),
# apache2-dev and zlib1g-dev for the headers.
set -eu
cd "$(dirname "$0")/.."
. scripts/lib.sh
fix=0
[ "${1:-}" = --fix ] && fix=1

files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' ! -path './asan-build/*')
includes="-I. -Ififo -Ififo/t -Ififo/bench -It/unit -I$("$xsf_apxs" -q INCLUDEDIR) $(apr-1-config --includes)"
# The project's own headers are checked through the files that include them.
headers='(tap|testutil|fifo|chunked|deflate|pipeline|baselines|xsf_path|xsf_stream)\.h$'
status=0
for f in $files; do
    case $f in *.h) continue ;; esac
    # shellcheck disable=SC2086
    if [ $fix = 1 ]; then
        clang-tidy -quiet -checks='-*,readability-braces-around-statements' -fix \
            -header-filter="$headers" "$f" \
            -- -D_GNU_SOURCE $includes >/dev/null 2>&1 || true
    elif ! clang-tidy -quiet -checks='-*,readability-braces-around-statements' \
            -warnings-as-errors='*' -header-filter="$headers" "$f" \
            -- -D_GNU_SOURCE $includes >/dev/null 2>&1; then
        echo "$f: a body without braces (clang-tidy readability-braces-around-statements)"
        status=1
    fi
done
# shellcheck disable=SC2086
if [ $fix = 1 ]; then
    clang-format -i $files
elif ! clang-format --dry-run -Werror $files 2>/dev/null; then
    clang-format --dry-run $files 2>&1 | grep -o '^[^:]*:[0-9]*' | sort -u | head -n 20
    echo "layout differs from .clang-format (scripts/style.sh --fix rewrites it)"
    status=1
fi
exit $status
