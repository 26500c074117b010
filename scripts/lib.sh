# Shell functions the project's scripts share (sourced, not run): where
# Apache is, which user its children run as, a free port, a scratch
# directory.  One place for each of these facts; bench/lib.sh,
# scripts/demo.sh, scripts/asan-check.sh, scripts/deb-check.sh and
# t/run-apache-tests.sh source it.  (The Perl tests have the same helpers
# in t/lib/XSF/Test.pm.)
#
# Environment: APXS (default apxs2), HTTPD (default: the httpd apxs names).

xsf_apxs=${APXS:-apxs2}

# Apache's module directory and server binary, as apxs reports them.
xsf_moddir() {
    "$xsf_apxs" -q LIBEXECDIR
}
xsf_httpd() {
    if [ -n "${HTTPD:-}" ]; then
        echo "$HTTPD"
    else
        echo "$("$xsf_apxs" -q SBINDIR)/$("$xsf_apxs" -q TARGET)"
    fi
}

# The user httpd's children run as when started as root: Debian's
# www-data where it exists, else nobody; and that user's group.
xsf_server_user() {
    if id www-data >/dev/null 2>&1; then echo www-data; else echo nobody; fi
}
xsf_server_group() {
    id -gn "$(xsf_server_user)"
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
xsf_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# xsf_scratch NAME: a new directory /tmp/NAME.XXXXXX (below $TMPDIR where
# set) that the unprivileged server user can enter; prints its path.
xsf_scratch() {
    d=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    chmod 755 "$d"
    echo "$d"
}
