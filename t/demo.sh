#!/bin/sh
# scripts/demo.sh as a user runs it (TAP): downloads with `curl -OJ` get
# the file's name, no request logs a denial (AH01630), Ctrl-C (SIGINT to
# its process group, as a terminal sends it) stops the server and leaves
# nothing behind, and so does an error after the demo made its directory.
# Runs in a built source tree only: the demo builds and runs from there.
set -eu
srcdir=${srcdir:-.}
skip() { echo "1..0 # SKIP $1"; exit 0; }
if [ ! -f "$srcdir/Makefile" ] || [ ! -f "$srcdir/.libs/mod_xsendfile.so" ]; then
    skip "the demo runs in a built source tree; this is a VPATH build"
fi
for tool in apxs2 curl python3 perl; do
    command -v "$tool" > /dev/null || skip "no $tool"
done
[ -f "$(apxs2 -q LIBEXECDIR)/mod_wsgi.so" ] || skip "no mod_wsgi (libapache2-mod-wsgi-py3)"
demo=$(cd "$srcdir" && pwd)/scripts/demo.sh
tmp=$(mktemp -d /tmp/xsf-demo-test.XXXXXX)
demo_pid=
cleanup() {
    status=$?
    # Only if a check below failed before the demo was stopped.
    if [ -n "$demo_pid" ]; then
        kill -INT "-$demo_pid" 2> /dev/null || true
        wait "$demo_pid" 2> /dev/null || true
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for f in "$@"; do sed 's/^/#   /' "$f"; done; }
# check DESCRIPTION COMMAND...: ok if the command succeeds; on failure show
# the demo's output.
check() {
    description=$1
    shift
    if "$@"; then ok "$description"; else not_ok "$description" "$tmp/demo.out"; fi
}
# Poll COMMAND... up to 60 s.
eventually() {
    i=0
    until "$@"; do
        [ $i -lt 600 ] || return 1
        sleep 0.1
        i=$((i + 1))
    done
}

echo 1..6

# The demo in a process group of its own, with SIGINT as a terminal leaves
# it (a shell starts background commands with SIGINT ignored): Ctrl-C is a
# SIGINT to that group.  Apache's user must reach the demo's directory.
chmod 755 "$tmp"
mkdir -m 755 "$tmp/demo-tmp"
mkdir "$tmp/dl"
TMPDIR=$tmp/demo-tmp perl -e 'setpgrp(0, 0); $SIG{INT} = "DEFAULT"; exec @ARGV or die' \
    sh "$demo" --no-install > "$tmp/demo.out" 2>&1 &
demo_pid=$!
printed_url() { grep -q 'mod_xsendfile demo: http' "$tmp/demo.out" || ! kill -0 "$demo_pid" 2> /dev/null; }
eventually printed_url || true
url=$(sed -n 's|^mod_xsendfile demo: \(http://[^ ]*/app/\)$|\1|p' "$tmp/demo.out")
dir=$(sed -n 's|^  logs: *\(.*\)/logs/$|\1|p' "$tmp/demo.out")
serving() { [ -n "$url" ] && curl -s -o /dev/null "$url"; }
if ! eventually serving; then
    not_ok "the demo starts" "$tmp/demo.out"
    exit 1
fi

download() {
    (cd "$tmp/dl" && curl -s -f -OJ -D "$tmp/headers" "${url}download?name=$1&token=letmein")
}
saved_as() { download "$1" && cmp -s "$tmp/dl/$2" "$dir/protected/$3"; }
check "curl -OJ saves report.txt under its own name" \
    saved_as report.txt report.txt report.txt
utf8_name() {
    saved_as 'caf%C3%A9%20%E2%82%AC.txt' 'cafe _.txt' 'café €.txt' &&
        grep -qF "filename=\"cafe _.txt\"; filename*=UTF-8''caf%C3%A9%20%E2%82%AC.txt" "$tmp/headers"
}
check "a UTF-8 name: filename*= has it, filename= an ASCII stand-in that curl -OJ uses" utf8_name

curl -s -o /dev/null "$url"
curl -s -o /dev/null "${url}download?name=report.txt"
no_denial() { ! grep AH01630 "$dir/logs/error_log" > "$tmp/denials"; }
if no_denial; then
    ok "no request logs a denial (AH01630)"
else
    not_ok "no request logs a denial (AH01630)" "$tmp/denials"
fi

# Ctrl-C: the server and every process of the demo stop, the directory goes.
group=$demo_pid
kill -INT "-$group"
status=0
wait "$demo_pid" || status=$?
demo_pid=
group_empty() { ! pgrep -g "$group" > /dev/null; }
check "Ctrl-C stops the demo (exit status $status) and every process it started" \
    eventually group_empty
no_directory() { [ ! -e "$dir" ] && [ -z "$(ls "$tmp/demo-tmp")" ]; }
check "Ctrl-C removes the demo's directory" no_directory

# An error once the demo has made its directory and printed it: Apache's
# binary, as apxs2 names it, does not exist.  The directory goes too.
real_apxs=$(command -v apxs2)
mkdir "$tmp/bin"
cat > "$tmp/bin/apxs2" <<EOF
#!/bin/sh
[ "\$*" = "-q SBINDIR" ] && exec echo /nonexistent
exec $real_apxs "\$@"
EOF
chmod +x "$tmp/bin/apxs2"
status=0
TMPDIR=$tmp/demo-tmp PATH=$tmp/bin:$PATH sh "$demo" --no-install > "$tmp/demo.out" 2>&1 || status=$?
dir=$(sed -n 's|^  logs: *\(.*\)/logs/$|\1|p' "$tmp/demo.out")
failed_clean() { [ "$status" -ne 0 ] && [ -n "$dir" ] && no_directory; }
check "an error (exit status $status) leaves no directory behind" failed_clean
