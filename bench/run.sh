#!/bin/sh
# Benchmark mod_xsendfile against its baselines, all in one run, and print
# the report as Markdown (bench/RESULTS.md is one such report).
#
#   bench/run.sh [--results FILE] [--check] [/abs/path/mod_xsendfile.so]
#       make bench          the report on stdout
#       make bench-results  the report written to bench/RESULTS.md
#       make bench-check    fails when a ratio's median is below its goal
#
# Starts two Apache instances (event MPM, hermetic configuration written
# under a scratch directory, 127.0.0.1 on free ports): "new" loads the module
# under test, "orig" Debian's libapache2-mod-xsendfile (the same module
# name, so it cannot share a server with ours), otherwise identical.  Then:
#
#  1. streams (SPEC §8): a named pipe fed by `head -c 4G /dev/zero`; the
#     workers' VmRSS/VmHWM sampled every second against
#     XSendFileStreamBuffer; then 1 GiB through a pipe against a CGI script
#     writing the same bytes and against the same bytes as a static file,
#     ROUNDS rounds interleaved;
#  2. wrk, ROUNDS rounds, the variants interleaved within each round:
#     4 KiB: X-SendFile from an .asis backend / the same bytes inline in an
#            .asis file whose header is as long / the original module /
#            Apache's static serving;
#     256 MiB: X-SendFile / Apache's static serving;
#     1 MiB from a WSGI backend: X-SendFile / the app's own read loop;
#     each ratio is taken round by round (the two variants ran side by
#     side) and reported as the median with the lowest and highest round;
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

results_file= check=0
while [ $# -gt 0 ]; do
    case $1 in
        --results) results_file=$2; shift 2 ;;
        --check) check=1; shift ;;
        *) break ;;
    esac
done
so=${1:-$bench_top/.libs/mod_xsendfile.so}
orig_so=${XSF_ORIG_SO:-$bench_moddir/mod_xsendfile.so}
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-5}

bench_require "$so" "$orig_so" wrk curl strace ab

bench_init
if [ -n "$results_file" ]; then
    # The report goes to the file as well; written in full or not at all.
    exec > "$work/report.md"
    trap 'status=$?; [ $status != 0 ] || cp "$work/report.md" "$results_file"; (exit $status); bench_cleanup' EXIT
fi
make_data small.bin 4K
make_data mid.bin 1M
make_data large.bin 256M
head -c 1G /dev/zero > "$work/data/gib.bin"
chmod 644 "$work/data/gib.bin"
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
# The stream baseline: a CGI script writing the same bytes itself.
cat > "$work/cgi/gib" <<'CGI'
#!/bin/sh
printf 'Content-Type: application/octet-stream\n\n'
exec head -c 1G /dev/zero
CGI
chmod 755 "$work/cgi/gib"

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
check_url "$port_new" /cgi/gib 1073741824

echo "# Benchmark results"
echo
echo "Written by \`make bench-results\` (bench/run.sh); do not edit by hand.  What the profiles"
echo "say about each goal, and what would close a missed one: [PROFILE.md](PROFILE.md)."
echo
echo "| | |"
echo "|---|---|"
echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
echo "| machine | $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg) at the start |"
echo "| software | $("$bench_httpd" -v | sed -n 's/^Server version: //p'), event MPM, $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2), $(curl --version | head -n 1 | cut -d' ' -f1-2) |"
echo "| module | \`$so\` $(git -C "$bench_top" describe --always --dirty 2>/dev/null || true) |"
echo "| original | \`$orig_so\` ($(dpkg-query -W -f '${Package} ${Version}' libapache2-mod-xsendfile 2>/dev/null || echo unknown)) |"
echo "| rounds | $rounds rounds of $seconds s per wrk variant, variants interleaved |"
echo
echo "Throughput on a shared machine moves by 10-20 % from round to round: every ratio below is"
echo "taken within a round (the two variants ran one after the other) and given as the median"
echo "with the lowest and highest round.  Server CPU time per file and syscalls per request do not"
echo "depend on the neighbours; read them beside the throughput."
echo

goals=$work/goals
: > "$goals"
# goal LABEL VALUE GOAL: a line of the goals table, and a note for --check.
goal() {
    awk -v label="$1" -v v="$2" -v goal="$3" 'BEGIN {
        printf "| %s | %s | >= %.2f | %s |\n", label, v, goal, (v + 0 >= goal ? "met" : "**missed**")
    }' >> "$goals"
}

# ---- 1. streams ----
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
            printf "| %s | %s | %.2f GiB in %.1f s | %.1f MiB (+%.1f) | %.1f MiB | %d MiB | %s |\n",
                label, g[1], g[2] / 1073741824, secs, rss, peak, hwm, bound,
                (peak <= bound + 4 ? "within" : "**exceeded**")
        }' "$baseline" "$samples"
}

echo "## 1. Streams (named pipes)"
echo
echo "Memory: \`head -c 4G /dev/zero > fifo\` downloaded with curl; the workers' memory is sampled"
echo "every second (growth over the idle worker)."
echo
echo "| run | status | transferred | peak VmRSS | VmHWM | bound | |"
echo "|---|---|---|---|---|---|---|"
fifo_run 'default buffer (16M), full speed' /asis/xsf-fifo.asis 16
# A slow client makes the buffer fill: the producer is held back at the
# bound.  15 s of it tell as much as the whole 4 GiB would.
fifo_run 'XSendFileStreamBuffer 4M, client 32 MB/s, 15 s' /asis-4m/xsf-fifo.asis 4 \
    --limit-rate 32M --max-time 15
fifo_run 'default (16M), client 32 MB/s, 15 s' /asis/xsf-fifo.asis 16 \
    --limit-rate 32M --max-time 15
echo

# stream_mibps PATH [producer]: MiB/s of one 1 GiB download.
stream_mibps() {
    if [ "${2:-}" = pipe ]; then
        rm -f "$work/data/stream.fifo"
        mkfifo -m 644 "$work/data/stream.fifo"
        head -c 1G /dev/zero > "$work/data/stream.fifo" &
    fi
    curl -s -o /dev/null -w '%{size_download} %{speed_download}\n' \
        "http://127.0.0.1:$port_new$1" | awk '$1 != 1073741824 { print "0"; exit } { printf "%.1f\n", $2 / 1048576 }'
    wait
}
streams=$work/streams
: > "$streams"
for round in $(seq "$rounds"); do
    echo "$round pipe $(stream_mibps /asis/xsf-fifo.asis pipe)" >> "$streams"
    echo "$round cgi $(stream_mibps /cgi/gib)" >> "$streams"
    echo "$round static $(stream_mibps /static/gib.bin)" >> "$streams"
done

# spread FILE NAME COLUMN: "median (min-max)" of a column over the rounds.
spread() {
    awk -v n="$2" -v c="$3" '$2 == n { print $c }' "$1" | sort -g | awk '
        { v[NR] = $1 }
        END { printf "%.1f (%.1f-%.1f)", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'
}
# round_ratio FILE A B COLUMN: "median (min-max)" of A/B taken round by round.
round_ratio() {
    awk -v a="$2" -v b="$3" -v c="$4" '
        $2 == a { x[$1] = $c } $2 == b { y[$1] = $c }
        END { for (r in x) if (y[r] > 0) print x[r] / y[r] }' "$1" | sort -g | awk '
        { v[NR] = $1 }
        END { printf "%.3f (%.3f-%.3f)", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'
}

echo "Throughput: 1 GiB, $rounds rounds interleaved, curl's average speed in MiB/s."
echo
echo "| variant | MiB/s, median (lowest-highest round) |"
echo "|---|---|"
echo "| named pipe fed by \`head -c 1G /dev/zero\`, through X-SendFile | $(spread "$streams" pipe 3) |"
echo "| CGI script \`exec head -c 1G /dev/zero\` | $(spread "$streams" cgi 3) |"
echo "| the same bytes as a static file | $(spread "$streams" static 3) |"
echo
goal 'stream / CGI writing the same bytes' "$(round_ratio "$streams" pipe cgi 3)" 1.0

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

# One line per round and variant: round name req/s bytes/s errors cpu_us
results=$work/results
: > "$results"
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
        echo "$round $name $1 $2 $3 $cpu_us" >> "$results"
    done
done
errors=$(awk '{ e += $5 } END { print e + 0 }' "$results")

echo "## 2. Throughput (wrk -t2, median and lowest-highest of $rounds rounds)"
echo
echo "| variant | connections | req/s | MiB/s | server CPU per file (µs) |"
echo "|---|---|---|---|---|"
echo "$variants" | while read -r name inst path conns size; do
    printf '| %s (%s %s) | %s | %s | %s | %s |\n' "$name" "$inst" "$path" "$conns" \
        "$(spread "$results" "$name" 3)" \
        "$(awk -v n="$name" '$2 == n { $4 = $4 / 1048576; print }' "$results" > "$work/mib"; spread "$work/mib" "$name" 4)" \
        "$(spread "$results" "$name" 6)"
done
echo
echo "wrk errors (non-2xx/3xx, socket errors) over all runs: $errors.  Every URL is checked for"
echo "status 200 and the exact size before it is measured."
echo
echo "| ratio | throughput | server CPU per file |"
echo "|---|---|---|"
# ratio_row LABEL A B COLUMN(3 req/s, 4 bytes/s) [GOAL]
ratio_row() {
    echo "| $1 | $(round_ratio "$results" "$2" "$3" "$4") | $(round_ratio "$results" "$2" "$3" 6) |"
    [ -z "${5:-}" ] || goal "$1" "$(round_ratio "$results" "$2" "$3" "$4")" "$5"
}
ratio_row '4 KiB: X-SendFile / inline .asis (same header length)' small-xsf small-inline 3 0.98
ratio_row '4 KiB: X-SendFile / original module' small-xsf small-orig 3 1.0
ratio_row '4 KiB: X-SendFile / static' small-xsf small-static 3
ratio_row '256 MiB: X-SendFile / static (bytes/s)' large-xsf large-static 4 0.98
ratio_row '1 MiB via WSGI: X-SendFile / the app read loop' wsgi-xsf wsgi-read 3
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

echo "## 3. System calls"
echo
echo "Bytes per write-type syscall while 2 x 256 MiB go out through X-SendFile (EnableSendfile On):"
echo
echo '```'
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
    END { for (n in bytes) printf "%-9s %6d calls %14d bytes\n", n, calls[n], bytes[n] }' \
    "$work/strace-bytes" | sort
echo '```'
echo

# Syscall counts do not depend on what else the machine runs, unlike
# req/s.  Connection-level calls (accept, epoll, futex) are left out: the
# requests share one keep-alive connection (ab -k -c1).
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
            printf "| syscall |"; for (i = 1; i <= f; i++) printf " %s |", names[i]; printf "\n"
            printf "|---|"; for (i = 1; i <= f; i++) printf "---|"; printf "\n"
            for (s in seen) {
                printf "| %s |", s
                for (i = 1; i <= f; i++) { printf " %.2f |", calls[s, i] / n; total[i] += calls[s, i] / n }
                printf "\n"
            }
            printf "| **total** |"; for (i = 1; i <= f; i++) printf " **%.2f** |", total[i]; printf "\n"
        }' $profiles
}

echo "Syscalls per 4 KiB request (\`strace -c\` of the workers, \`ab -k -n 500 -c 1\`):"
echo
syscall_table 500 small-xsf:new:/asis/xsf-small.asis small-inline:new:/asis/inline-small.asis \
    small-orig:orig:/asis/xsf-small.asis small-static:new:/static/small.bin
echo
echo "Syscalls per 256 MiB request (\`ab -k -n 4 -c 1\`):"
echo
syscall_table 4 large-xsf:new:/asis/xsf-large.asis large-static:new:/static/large.bin
echo

echo "## Goals"
echo
echo "| ratio | median (lowest-highest round) | goal | |"
echo "|---|---|---|---|"
cat "$goals"
missed=$(grep -c 'missed' "$goals" || true)
[ "$errors" = 0 ] || { echo "$0: $errors wrk errors" >&2; exit 1; }
if [ "$check" = 1 ] && [ "$missed" != 0 ]; then
    echo "$0: $missed goal(s) missed" >&2
    exit 1
fi
