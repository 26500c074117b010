#!/bin/sh
# Instructions per 4 KiB X-SendFile request in user space, this module
# against the original (bench/PROFILE.md).  Unlike req/s, the count does not
# depend on the neighbours on a shared machine.
#
#   bench/callgrind.sh [/abs/path/mod_xsendfile.so]     (make bench-instructions)
#
# Each module in turn: the bench configuration (bench/lib.sh), httpd -X
# under valgrind --tool=callgrind, keep-alive requests for the .asis file
# naming a 4 KiB file; a run of 100 requests is subtracted from one of
# 100 + N (XSF_CALLGRIND_REQUESTS, default 2000).  valgrind 3.19 does not
# know openat2(2): the module takes its per-component fallback there.  Prints a Markdown table: instructions
# per request, the whole process and the module's own functions, and the
# ratio.  XSF_KEEP=1 keeps the dumps (callgrind_annotate them by function).
set -eu
. "$(dirname "$0")/lib.sh"

so=${1:-$bench_top/.libs/mod_xsendfile.so}
orig_so=${XSF_ORIG_SO:-$bench_moddir/mod_xsendfile.so}
n=${XSF_CALLGRIND_REQUESTS:-2000}

bench_require "$so" "$orig_so" valgrind callgrind_annotate setpriv ab curl

bench_init
make_data small.bin 4K
echo 'backend body, dropped by the module' | make_asis xsf-small.asis \
    'Status: 200' 'Content-Type: application/octet-stream' "X-SendFile: $work/data/small.bin"
write_common_conf

# run NAME MODULE_SO REQUESTS: prints "TOTAL OWN", the instructions of
# httpd -X from start to stop with REQUESTS keep-alive requests in between,
# all of them and those in the module's own functions.  httpd runs as its
# user from the start, so that callgrind can write its dump at exit.
run() {
    inst=$work/$1-$3
    port=$(xsf_free_port)
    write_instance_conf "$inst" "$2" "$port"
    chown "$bench_user:$bench_group" "$inst"
    out=$inst/callgrind.out
    setpriv --reuid="$bench_user" --regid="$bench_group" --clear-groups \
        valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bench_httpd" -X -f "$inst/httpd.conf" > "$inst/valgrind.log" 2>&1 &
    vg=$!
    url=http://127.0.0.1:$port/asis/xsf-small.asis
    for _ in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$url")" = "200 4096" ] && break
        kill -0 $vg 2>/dev/null || { cat "$inst/valgrind.log" >&2; return 1; }
        sleep 0.2
    done
    ab -k -n "$3" -c 1 "$url" > "$inst/ab.log"
    grep -q '^Failed requests: *0$' "$inst/ab.log" || { cat "$inst/ab.log" >&2; return 1; }
    # Stopped by its process id; the dump is written as it exits.  The
    # mod_cgid and mod_wsgi daemons it forked go with it.
    kids=$(ps -o pid= --ppid $vg)
    kill -TERM $vg
    for _ in $(seq 150); do
        kill -0 $vg 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL $vg $kids 2>/dev/null || true
    wait $vg || true
    [ -s "$out" ] || { echo "$0: no callgrind dump for $1" >&2; cat "$inst/valgrind.log" >&2; return 1; }
    callgrind_annotate --inclusive=no --threshold=100 "$out" > "$inst/annotate.txt"
    awk '
        /PROGRAM TOTALS/ { gsub(/,/, "", $1); total = $1 }
        /mod_xsendfile/ && $1 ~ /^[0-9,]+$/ { v = $1; gsub(/,/, "", v); own += v }
        END { printf "%.0f %.0f\n", total, own }' "$inst/annotate.txt"
}

# measure NAME MODULE_SO: instructions per request, "TOTAL OWN": two runs,
# 100 and 100 + N requests, the first subtracted (startup, shutdown).
measure() {
    a=$(run "$1" "$2" 100)
    b=$(run "$1" "$2" $((100 + n)))
    printf '%s %s\n' "$a" "$b" | awk -v n="$n" '{ printf "%.0f %.0f\n", ($3 - $1) / n, ($4 - $2) / n }'
}

new=$(measure new "$so")
orig=$(measure orig "$orig_so")
echo "| module | instructions per request | in the module's own functions |"
echo "|---|---|---|"
echo "$new" | awk -v so="$so" '{ printf "| `%s` | %d | %d |\n", so, $1, $2 }'
echo "$orig" | awk -v so="$orig_so" '{ printf "| `%s` (original) | %d | %d |\n", so, $1, $2 }'
printf '%s %s\n' "$new" "$orig" | awk '{ printf "\nthis module / the original: %.3f (%d requests each, startup excluded)\n", $1 / $3, '"$n"' }'
