#!/bin/sh
# Run the Apache::Test suite against a built module.
#
#   t/run-apache-tests.sh /abs/path/mod_xsendfile.so [t/TEST.PL options, test files]
#
# Environment: APXS (default apxs2), HTTPD (default from apxs), XSF_MPM
# (event, worker or prefork), XSF_KEEP=1 keeps the scratch copy.
#
# The suite runs in a scratch copy of t/: httpd drops to an unprivileged
# user when started as root, and that user must read the tree and write the
# temporary-file root; a checkout under /root, or a read-only `make
# distcheck` tree, would allow neither.
set -eu

src=$(cd "$(dirname "$0")" && pwd)
# The source tree, for tests that read the README's recipes (t/s3.t).
XSF_SRCDIR=$(cd "$src/.." && pwd)
export XSF_SRCDIR
so=${1:?usage: $0 MODULE_SO [TEST.PL args]}
shift
case $so in /*) ;; *) so=$(pwd)/$so ;; esac
. "$XSF_SRCDIR/scripts/lib.sh"
APXS=$xsf_apxs
HTTPD=$(xsf_httpd)

work=$(mktemp -d "${TMPDIR:-/tmp}/xsf-test.XXXXXX")
cleanup() {
    status=$?
    if [ $status -ne 0 ] && [ -f "$work/t/logs/error_log" ]; then
        echo "---- last lines of httpd's error_log ($work/t/logs/error_log) ----"
        tail -n 40 "$work/t/logs/error_log"
    fi
    if [ "${XSF_KEEP:-0}" = 1 ] || [ $status -ne 0 ]; then
        echo "scratch tree kept: $work"
    else
        rm -rf "$work"
    fi
    exit $status
}
trap cleanup EXIT INT TERM

cp -R "$src" "$work/t"
rm -rf "$work/t/logs" "$work/t/conf/httpd.conf" "$work/t/conf/apache_test_config.pm"
mkdir -p "$work/t/htdocs/tmp"
chmod 755 "$work"
chmod -R a+rX "$work/t"
chmod 777 "$work/t/htdocs/tmp"

cd "$work"
# -port select: a free port; timeout: a wedged server never hangs CI.
XSF_MODULE=$so timeout 1800 perl t/TEST.PL -apxs "$APXS" -httpd "$HTTPD" \
    -port select "$@"
