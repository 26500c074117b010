#!/bin/sh
# Every test: install what is missing, build, then the C unit tests and the
# Apache::Test suite (make check, event MPM), the MPM-sensitive part of the
# suite again under prefork and worker, cppcheck, the C style
# (scripts/style.sh: clang-format and clang-tidy), a fuzz smoke run of each
# target (FUZZ_SECONDS, default 60), the RPM, the Debian package installed
# over Debian's own in a debootstrap root (make deb-check), the suite
# against an ASan/UBSan build, and make distcheck.
#
#   scripts/test.sh [--no-install]
set -eu
cd "$(dirname "$0")/.."
[ "${1:-}" = --no-install ] || scripts/install-deps.sh

log=$(mktemp /tmp/xsf-check.XXXXXX)
trap 'rm -f "$log" "$log.rc"' EXIT

# Run a command, show its output and keep it for the summary below; stop
# the whole run on its failure.
logged() {
    { rc=0; "$@" 2>&1 || rc=$?; echo "$rc" > "$log.rc"; } | tee -a "$log"
    rc=$(cat "$log.rc")
    [ "$rc" = 0 ] || exit "$rc"
}

autoreconf -fi
./configure
make -j2
logged make check
for mpm in prefork worker; do
    logged env XSF_MPM=$mpm make check-local \
        TEST_FILES="t/semantics.t t/body.t t/stream.t t/descriptors.t t/transparent.t"
done
make cppcheck
sh scripts/style.sh
make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
make rpm-check
make deb-check
logged make check-asan
make distcheck

# One closing line for the whole run, counted from the runners' own output:
# automake's TAP summaries and Apache::Test's (prove's) totals.
awk '
    /^# PASS: /  { pass += $3 }
    /^# FAIL: /  { fail += $3 }
    /^# ERROR: / { fail += $3 }
    /^Files=[0-9]+, Tests=[0-9]+/ { split($2, t, "="); sub(",", "", t[2]); pass += t[2] }
    END { printf "%d passed, %d failed\n", pass, fail }
' "$log"
