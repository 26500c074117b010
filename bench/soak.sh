#!/bin/sh
# Soak and leak test: a million requests at concurrency 64 on the event MPM.
#
#   bench/soak.sh [/abs/path/mod_xsendfile.so]          (or: make soak)
#
# One Apache (hermetic configuration under a scratch directory, 127.0.0.1,
# a free port) and wrk with bench/soak.lua, whose mix is: 4 KiB and 1 MiB
# files through X-SendFile (.asis backends), single ranges (206),
# conditional requests (304), a missing file (404), a file outside the
# roots (403), X-SendFile-Temporary from a WSGI backend that copies a fresh
# file per request, and plain WSGI bodies.  Every response is checked
# against the status its request expects.
#
# The run is cut into SOAK_SEGMENTS segments of SOAK_SEGMENT requests
# (default 10 x 100000); after each one the script prints every process's
# resident memory and descriptor count and the temporary files left.
# Beside wrk, each segment runs four slow clients (curl --limit-rate) on a
# 16 MiB file, so that httpd sets large files aside for write completion;
# after each segment no child may still hold a descriptor of a data or
# temporary file (the leak of one descriptor per large download showed
# exactly there).
# It fails on any unexpected status or socket error, on descriptors that
# differ between start and end, on a data file still open after a segment,
# or on temporary files left behind.
# Environment: SOAK_SEGMENT, SOAK_SEGMENTS, APXS, HTTPD, XSF_KEEP=1.
set -eu
. "$(dirname "$0")/lib.sh"

so=${1:-$bench_top/.libs/mod_xsendfile.so}
segment=${SOAK_SEGMENT:-100000}
segments=${SOAK_SEGMENTS:-10}
conns=64
threads=2
[ -f "$so" ] || { echo "$0: no module at $so (build first)" >&2; exit 2; }

bench_init
make_data small.bin 4K
make_data large.bin 1M
make_data huge.bin 16M
echo 'not below any XSendFilePath root' > "$work/outside.txt"
chmod 644 "$work/outside.txt"
for target in small:data/small.bin large:data/large.bin huge:data/huge.bin \
              missing:data/missing.bin outside:outside.txt; do
    echo 'backend body, dropped by the module' | make_asis "xsf-${target%%:*}.asis" \
        'Status: 200' 'Content-Type: application/octet-stream' \
        "X-SendFile: $work/${target#*:}"
done

write_common_conf
mkdir -p "$work/soak"
cat > "$work/soak/extra.conf" <<CONF
# X-SendFile-Temporary below tmp/ only.
<Location /app>
    XSendFilePath "$work/tmp" AllowFileDelete
</Location>
# soak.lua puts the status it expects into the query; echo it back, error
# pages and 304s included.
Header always set X-Expect "expr=%{QUERY_STRING}"
CONF
start_httpd soak "$so"
base=http://127.0.0.1:$port_soak

etag=$(curl -s -D - -o /dev/null "$base/asis/xsf-small.asis" | sed -n 's/^ETag: *//Ip' | tr -d '\r')
[ -n "$etag" ] || { echo "$0: no ETag on the small file" >&2; exit 1; }

# One line per process: role pid VmRSS(KiB) descriptors
snapshot() {
    echo "main $(main_pid soak)"
    for p in $(worker_pids soak); do echo "worker $p"; done
    for p in $(wsgi_pids soak); do echo "wsgi $p"; done
}
report() {
    snapshot | while read -r role pid; do
        printf '%s:%s rss %s KiB fds %s; ' "$role" "$pid" "$(vm_kib "$pid" VmRSS)" "$(fd_count "$pid")"
    done
    printf 'temporary files left %s\n' "$(ls "$work/tmp" | wc -l)"
}
fds() {
    snapshot | while read -r role pid; do
        echo "$role:$pid $(fd_count "$pid")"
    done
}
# Descriptors the workers hold on data or temporary files, after waiting a
# bounded while for the last transfers to end.
data_fds() {
    n=0
    for _ in $(seq 50); do
        n=0
        for p in $(worker_pids soak); do
            for fd in /proc/"$p"/fd/*; do
                case $(readlink "$fd" 2>/dev/null) in
                    "$work"/data/* | "$work"/tmp/*) n=$((n + 1)) ;;
                esac
            done
        done
        [ "$n" = 0 ] && break
        sleep 0.1
    done
    echo "$n"
}
slow_clients() {
    for _ in 1 2 3 4; do
        curl -s --limit-rate 4M -o /dev/null -w '%{http_code} %{size_download}\n' \
            "$base/asis/xsf-huge.asis?expect=200" &
    done
    wait
}

echo "mod_xsendfile soak test, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
echo "wrk -t$threads -c$conns -s bench/soak.lua, $segments segments of $segment requests"
echo "before:        $(report)"
fds > "$work/fds-before"

total=0 unexpected=0 errors=0 held=0 slow_bad=0
for i in $(seq "$segments"); do
    slow_clients > "$work/slow-$i.out" &
    slow=$!
    marker=$work/wrk-done-$i
    out=$work/wrk-$i.out
    wrk -t$threads -c$conns -d3600s -s "$bench_top/bench/soak.lua" "$base/" \
        -- $((segment / threads)) "$etag" "$marker" > "$out" 2>&1 &
    wrk=$!
    # Each thread stops itself at its share; then end wrk's wait.
    while [ "$(ls "$marker".* 2>/dev/null | wc -l)" -lt $threads ] && kill -0 $wrk 2>/dev/null; do
        sleep 1
    done
    kill -INT $wrk 2>/dev/null || true
    wait $wrk || true
    set -- $(sed -n 's/^SOAK //p' "$out")
    [ $# -ge 6 ] || { echo "$0: wrk gave no summary:" >&2; cat "$out" >&2; exit 1; }
    total=$((total + $2))
    unexpected=$((unexpected + $4))
    errors=$((errors + $6))
    [ "$4" = 0 ] || echo "  segment $i: $4 unexpected, first: $(sed -n 's/.*first_unexpected //p' "$out")"
    wait $slow
    bad=$(grep -cv "^200 $((16 << 20))\$" "$work/slow-$i.out" || true)
    slow_bad=$((slow_bad + bad))
    open_now=$(data_fds)
    held=$((held + open_now))
    printf '%8d requests: %s; slow 16 MiB downloads failed %s; data files held open %s\n' \
        "$total" "$(report)" "$bad" "$open_now"
done

# X-SendFile-Temporary files go in a pool cleanup at the end of each
# request; the last ones may still be in flight when wrk stops.
sleep 2
fds > "$work/fds-after"
left=$(ls "$work/tmp" | wc -l)
echo "after:         $(report)"
echo "requests $total, unexpected statuses $unexpected, socket errors $errors, temporary files left $left"
echo "slow downloads failed $slow_bad, data files held open after segments $held"
if cmp -s "$work/fds-before" "$work/fds-after"; then
    echo "descriptors: equal before and after"
    fd_ok=1
else
    echo "descriptors differ (before | after):"
    paste "$work/fds-before" "$work/fds-after"
    fd_ok=0
fi
[ "$unexpected" = 0 ] && [ "$errors" = 0 ] && [ "$left" = 0 ] && [ $fd_ok = 1 ] \
    && [ "$slow_bad" = 0 ] && [ "$held" = 0 ]
