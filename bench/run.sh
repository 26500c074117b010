#!/bin/sh
# Benchmark mod_xsendfile against its baselines, all in one run.
#
#   bench/run.sh [/abs/path/mod_xsendfile.so]        (or: make bench)
#
# Starts two Apache instances (event MPM, hermetic configuration written
# under a scratch directory, 127.0.0.1 on free ports): "new" loads the module
# under test, "orig" Debian's libapache2-mod-xsendfile (the same module
# name, so it cannot share a server with ours), otherwise identical.  Then:
#
#  1. streaming (SPEC §8): a named pipe fed 4 GiB by `head -c 4G
#     /dev/zero`, downloaded with curl (full speed, and rate-limited so the
#     buffer fills); the workers' VmRSS/VmHWM are sampled every second and
#     compared with XSendFileStreamBuffer;
#  2. wrk, ROUNDS rounds, the variants interleaved within each round, medians:
#     4 KiB: X-SendFile from an .asis backend / the same bytes inline in an
#            .asis file / the original module / Apache's static serving;
#     256 MiB: X-SendFile / Apache's static serving;
#     1 MiB from a WSGI backend: X-SendFile / the app's own read loop;
#  3. strace of the workers: the syscall summary of an X-SendFile run, the
#     bytes each write-type syscall carried, and syscalls per request of
#     each 4 KiB and 256 MiB variant (exact counts, unlike req/s on a busy
#     machine).
#
# Environment: BENCH_SECONDS (per wrk run, default 5), BENCH_ROUNDS
# (default 5), XSF_ORIG_SO (default: Debian's module in apxs' LIBEXECDIR),
# APXS, HTTPD, XSF_KEEP=1 keeps the scratch tree.  Never run in CI.
set -eu
. "$(dirname "$0")/lib.sh"

so=${1:-$bench_top/.libs/mod_xsendfile.so}
orig_so=${XSF_ORIG_SO:-$bench_moddir/mod_xsendfile.so}
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-5}

[ -f "$so" ] || { echo "$0: no module at $so (build first)" >&2; exit 2; }
# `make install` of this project overwrites Debian's file at the same path.
if [ ! -f "$orig_so" ] || grep -q XSendFileStreamBuffer "$orig_so"; then
    echo "$0: $orig_so is not the original module (apt-get install --reinstall" \
         "libapache2-mod-xsendfile, or set XSF_ORIG_SO)" >&2
    exit 2
fi
for tool in wrk curl strace ab; do
    command -v $tool >/dev/null || { echo "$0: $tool is missing" >&2; exit 2; }
done

bench_init
make_data small.bin 4K
make_data mid.bin 1M
make_data large.bin 256M
echo 'backend body, dropped by the module' | make_asis xsf-small.asis \
    'Status: 200' 'Content-Type: application/octet-stream' "X-SendFile: $work/data/small.bin"
# mod_asis reads header lines a byte per read(2): the inline response
# carries a header as long as the X-SendFile line, so that the difference
# measured is the module's, not mod_asis' parsing of a longer file.
make_asis inline-small.asis 'Status: 200' 'Content-Type: application/octet-stream' \
    "X-Unused-H: $work/data/small.bin" < "$work/data/small.bin"
echo 'backend body, dropped by the module' | make_asis xsf-large.asis \
    'Status: 200' 'Content-Type: application/octet-stream' "X-SendFile: $work/data/large.bin"
echo 'backend body, dropped by the module' | make_asis xsf-fifo.asis \
    'Status: 200' 'Content-Type: application/octet-stream' "X-SendFile: $work/data/stream.fifo"

write_common_conf
# Only ours knows the streaming directives: /asis-4m/ is /asis/ with a
# smaller stream buffer than the default 16M.
mkdir -p "$work/new"
cat > "$work/new/extra.conf" <<CONF
Alias /asis-4m/ "$work/htdocs/asis/"
<Location /asis-4m/>
    XSendFileStreamBuffer 4M
</Location>
CONF
start_httpd new "$so"
start_httpd orig "$orig_so"

# Each URL must give 200 and exactly the file before it is measured: a
# variant that silently served the backend's body would win every race.
check_url() {
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$1$2")
    if [ "$got" != "200 $3" ]; then
        echo "$0: $2 on port $1 gave '$got', expected '200 $3'" >&2
        exit 1
    fi
}
check_url "$port_new" /asis/xsf-small.asis 4096
check_url "$port_new" /asis/inline-small.asis 4096
check_url "$port_orig" /asis/xsf-small.asis 4096
check_url "$port_new" /static/small.bin 4096
check_url "$port_new" /asis/xsf-large.asis 268435456
check_url "$port_new" /static/large.bin 268435456
check_url "$port_new" '/app/xsf?f=mid.bin' 1048576
check_url "$port_new" '/app/read?f=mid.bin' 1048576

echo "mod_xsendfile benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
     "kernel $(uname -r), $("$bench_httpd" -v | sed -n 's/^Server version: //p'), $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
echo "module: $so; original: $orig_so"
echo

# ---- 1. streaming a named pipe: worker memory against the buffer bound ----
# One line per worker: pid VmRSS VmHWM (KiB).
sample_workers() {
    for p in $(worker_pids new); do
        echo "$p $(vm_kib "$p" VmRSS) $(vm_kib "$p" VmHWM)"
    done
}

# The workers' resident memory before any stream is the baseline; the
# stream's cost is the peak during a run minus that.
baseline=$work/rss-baseline
sample_workers > "$baseline"

# fifo_run LABEL PATH BUFFER_MIB [curl options]
fifo_run() {
    label=$1 path=$2 bound=$3
    shift 3
    fifo=$work/data/stream.fifo
    samples=$work/rss-samples
    rm -f "$fifo"
    mkfifo -m 644 "$fifo"
    # The producer blocks in open() until the module opens the pipe.
    head -c 4G /dev/zero > "$fifo" &
    producer=$!
    while :; do
        sample_workers
        sleep 1
    done > "$samples" &
    sampler=$!
    start=$(date +%s.%N)
    # curl's exit status is 28 where --max-time ends the download.
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$@" \
          "http://127.0.0.1:$port_new$path" || true)
    end=$(date +%s.%N)
    kill "$sampler"
    kill "$producer" 2>/dev/null || true
    wait "$producer" 2>/dev/null || true
    sample_workers >> "$samples"
    awk -v label="$label" -v got="$got" -v secs="$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" \
        -v bound="$bound" '
        FNR == NR { base[$1] = $2; next }
        { grow = ($2 - base[$1]) / 1024; if (grow > peak) { peak = grow; hwm = $3 / 1024; rss = $2 / 1024 } }
        END {
            split(got, g, " ")
            printf "  %-44s status %s, %.2f GiB in %.1f s; peak VmRSS %.1f MiB (+%.1f MiB over the idle worker), VmHWM %.1f MiB; bound %d MiB: %s\n",
                label, g[1], g[2] / 1073741824, secs, rss, peak, hwm, bound,
                (peak <= bound + 4 ? "within" : "EXCEEDED")
        }' "$baseline" "$samples"
}

echo "1. streaming a 4 GiB named pipe (head -c 4G /dev/zero > fifo), curl downloading it"
fifo_run 'default buffer (16M), full speed' /asis/xsf-fifo.asis 16
# A slow client makes the buffer fill: the producer is held back at the
# bound.  15 s of it tell as much as the whole 4 GiB would.
fifo_run 'XSendFileStreamBuffer 4M, client 32 MB/s, 15 s' /asis-4m/xsf-fifo.asis 4 \
    --limit-rate 32M --max-time 15
fifo_run 'default (16M), client 32 MB/s, 15 s' /asis/xsf-fifo.asis 16 \
    --limit-rate 32M --max-time 15
echo

# ---- 2. throughput, the variants interleaved ----
# name instance path connections file-size
variants='small-xsf new /asis/xsf-small.asis 32 4096
small-inline new /asis/inline-small.asis 32 4096
small-orig orig /asis/xsf-small.asis 32 4096
small-static new /static/small.bin 32 4096
large-xsf new /asis/xsf-large.asis 4 268435456
large-static new /static/large.bin 4 268435456
wsgi-xsf new /app/xsf?f=mid.bin 16 1048576
wsgi-read new /app/read?f=mid.bin 16 1048576'

url_of() {
    eval "port=\$port_$1"
    printf 'http://127.0.0.1:%s%s\n' "$port" "$2"
}

# CPU time (clock ticks, user + system) of all processes of an instance:
# the main process, the workers and the mod_wsgi daemon.  The large file
# saturates wrk before the server, so its throughput alone says little.
instance_ticks() {
    for p in $(main_pid "$1") $(ps -o pid= --ppid "$(main_pid "$1")"); do
        sed 's/.*) //' "/proc/$p/stat"
    done | awk '{ t += $12 + $13 } END { print t }'
}
hz=$(getconf CLK_TCK)

results=$work/results
: > "$results"
echo "2. wrk -t2, $rounds rounds of ${seconds} s per variant, interleaved (after a 1 s warm-up each)"
echo "$variants" | while read -r name inst path conns size; do
    wrk_run "$(url_of "$inst" "$path")" "$conns" 1 > /dev/null
done
for round in $(seq "$rounds"); do
    echo "$variants" | while read -r name inst path conns size; do
        t0=$(instance_ticks "$inst")
        set -- $(wrk_run "$(url_of "$inst" "$path")" "$conns" "$seconds")
        t1=$(instance_ticks "$inst")
        # Server CPU per file served; files counted from the bytes wrk read,
        # since a 256 MiB response often is still in flight when wrk stops.
        cpu_us=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v b="$2" -v s="$seconds" -v size="$size" \
                 'BEGIN { print t / hz * 1e6 / (b * s / size) }')
        printf '  round %d %-13s %10.1f req/s %9.1f MiB/s %9.0f us server CPU/file%s\n' \
            "$round" "$name" "$1" "$(awk -v b="$2" 'BEGIN { print b / 1048576 }')" "$cpu_us" \
            "$([ "$3" = 0 ] || echo "  ERRORS: $3")"
        echo "$name $1 $2 $3 $cpu_us" >> "$results"
    done
done

# median NAME COLUMN (2 req/s, 3 bytes/s, 5 server CPU per file)
median() {
    awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$results" | sort -g | awk '
        { v[NR] = $1 }
        END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "   medians:"
for name in $(echo "$variants" | cut -d' ' -f1); do
    printf '   %-13s %10.1f req/s %9.1f MiB/s %9.0f us server CPU/file\n' "$name" \
        "$(median "$name" 2)" "$(awk -v b="$(median "$name" 3)" 'BEGIN { print b / 1048576 }')" \
        "$(median "$name" 5)"
done
errors=$(awk '{ e += $4 } END { print e + 0 }' "$results")

# ratio LABEL A B COLUMN GOAL (GOAL 0: none)
ratio() {
    awk -v label="$1" -v a="$(median "$2" "$4")" -v b="$(median "$3" "$4")" -v goal="$5" 'BEGIN {
        r = a / b
        printf "   %-52s %.3f", label, r
        if (goal > 0)
            printf "   goal >= %.2f: %s", goal, (r >= goal ? "met" : "MISSED")
        printf "\n"
    }'
}
echo "   ratios (throughput: req/s for 4 KiB and WSGI, bytes/s for 256 MiB):"
ratio '4 KiB: X-SendFile / inline .asis' small-xsf small-inline 2 0.95
ratio '4 KiB: X-SendFile / original module' small-xsf small-orig 2 1.2
ratio '4 KiB: X-SendFile / static' small-xsf small-static 2 0
ratio '256 MiB: X-SendFile / static' large-xsf large-static 3 0.98
ratio '1 MiB via WSGI: X-SendFile / app read loop' wsgi-xsf wsgi-read 2 0
echo "   server CPU per file, ratios:"
ratio '4 KiB: X-SendFile / inline .asis' small-xsf small-inline 5 0
ratio '4 KiB: X-SendFile / original module' small-xsf small-orig 5 0
ratio '256 MiB: X-SendFile / static' large-xsf large-static 5 0
ratio '1 MiB via WSGI: X-SendFile / app read loop' wsgi-xsf wsgi-read 5 0
echo "   wrk errors (non-2xx/3xx, socket errors) over all runs: $errors"
echo

# ---- 3. strace: sendfile(2) carries the bytes; syscalls per request ----
# strace_workers INSTANCE OUTPUT [strace options]: trace the instance's
# workers in the background until stop_strace.
strace_workers() {
    inst=$1 out=$2
    shift 2
    # shellcheck disable=SC2046
    strace -f -q -o "$out" "$@" $(for p in $(worker_pids "$inst"); do printf -- '-p %s ' "$p"; done) &
    tracer=$!
    sleep 1
}
stop_strace() {
    kill -INT "$tracer"
    wait "$tracer" || true
}

echo "3. strace -c -f -p <workers> during ${seconds} s of 4 KiB X-SendFile (wrk -c32):"
strace_workers new "$work/strace-c" -c
wrk_run "$(url_of new /asis/xsf-small.asis)" 32 "$seconds" > /dev/null
stop_strace
sed 's/^/   /' "$work/strace-c" | head -n 16

echo "   bytes written per syscall while 2 x 256 MiB go out through X-SendFile:"
strace_workers new "$work/strace-bytes" -e trace=sendfile,write,writev
for _ in 1 2; do
    curl -s -o /dev/null "$(url_of new /asis/xsf-large.asis)"
done
stop_strace
# A call that blocked shows up as "<... sendfile resumed> ... = N".
awk '
    match($0, /(sendfile|writev|write)\(/) || match($0, /<\.\.\. (sendfile|writev|write) resumed>/) {
        name = $0; sub(/^[0-9]+ +(<\.\.\. )?/, "", name); sub(/[( ].*/, "", name)
        if (match($0, /= [0-9]+$/)) { bytes[name] += substr($0, RSTART + 2); calls[name]++ }
    }
    END { for (n in bytes) printf "   %-9s %6d calls %14d bytes\n", n, calls[n], bytes[n] }' \
    "$work/strace-bytes" | sort

# Syscall counts do not depend on what else the machine runs, unlike
# req/s: on a busy or virtualised machine they are the steadier measure of
# the work per request.  Connection-level calls (accept, epoll, futex)
# are left out: the requests share one keep-alive connection (ab -k -c1).
#
# syscall_table REQUESTS NAME:INSTANCE:PATH...
syscall_table() {
    n=$1
    shift
    profiles=
    for v in "$@"; do
        name=${v%%:*} inst=${v#*:} inst=${inst%%:*} path=${v#*:*:}
        strace_workers "$inst" "$work/sc-$name" -c
        ab -q -k -n "$n" -c 1 "$(url_of "$inst" "$path")" > /dev/null
        stop_strace
        profiles="$profiles $work/sc-$name"
    done
    # shellcheck disable=SC2086
    awk -v n="$n" '
        FNR == 1 { f++; names[f] = FILENAME; sub(/.*sc-/, "", names[f]) }
        $1 ~ /^[0-9.]+$/ && $NF !~ /^(total|epoll_wait|epoll_ctl|futex|accept4|shutdown|fcntl)$/ {
            calls[$NF, f] = $4; seen[$NF] = 1
        }
        END {
            printf "   %-12s", "syscall"; for (i = 1; i <= f; i++) printf " %13s", names[i]; printf "\n"
            for (s in seen) {
                printf "   %-12s", s
                for (i = 1; i <= f; i++) { printf " %13.2f", calls[s, i] / n; total[i] += calls[s, i] / n }
                printf "\n"
            }
            printf "   %-12s", "total"; for (i = 1; i <= f; i++) printf " %13.2f", total[i]; printf "\n"
        }' $profiles
}

echo
echo "   syscalls per 4 KiB request (strace -c of the workers, ab -k -n 500 -c 1):"
syscall_table 500 small-xsf:new:/asis/xsf-small.asis small-inline:new:/asis/inline-small.asis \
    small-orig:orig:/asis/xsf-small.asis small-static:new:/static/small.bin
echo "   syscalls per 256 MiB request (ab -k -n 4 -c 1):"
syscall_table 4 large-xsf:new:/asis/xsf-large.asis large-static:new:/static/large.bin
[ "$errors" = 0 ]
