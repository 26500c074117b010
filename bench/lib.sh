# Shared by bench/run.sh and bench/soak.sh (sourced, not run): a scratch
# tree, Apache instances with a hermetic configuration, and /proc readings.
#
# An instance NAME lives in $work/NAME: httpd.conf (written here), pid file,
# error_log, mod_wsgi sockets, and an optional extra.conf for what only that
# instance has.  Everything else comes from $work/common.conf, so two
# instances differ in nothing but the module they load and their extra.conf.

bench_top=$(cd "$(dirname "$0")/.." && pwd)
. "$bench_top/scripts/lib.sh"
bench_moddir=$(xsf_moddir)
bench_httpd=$(xsf_httpd)
bench_user=$(xsf_server_user)
bench_group=$(xsf_server_group)

# The scratch tree, removed on exit unless XSF_KEEP=1; servers still
# running then are stopped.
bench_init() {
    work=$(xsf_scratch xsf-bench)
    mkdir -p "$work/htdocs/asis" "$work/data" "$work/tmp" "$work/cgi"
    chown "$bench_user:$bench_group" "$work/tmp"
    cp "$bench_top/bench/app.wsgi" "$work/app.wsgi"
    bench_started=
    trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
    status=$?
    for name in $bench_started; do
        stop_httpd "$name"
    done
    if [ "${XSF_KEEP:-0}" = 1 ]; then
        echo "scratch tree kept: $work"
    else
        rm -rf "$work"
    fi
    exit $status
}

# A file of SIZE bytes (head -c syntax: 4K, 256M) under $work/data.
make_data() {
    head -c "$2" /dev/urandom > "$work/data/$1"
    chmod 644 "$work/data/$1"
}

# An .asis response under $work/htdocs/asis: NAME, then the header lines;
# the body is read from stdin.
make_asis() {
    name=$1
    shift
    {
        for h in "$@"; do
            printf '%s\n' "$h"
        done
        printf '\n'
        cat
    } > "$work/htdocs/asis/$name"
    chmod 644 "$work/htdocs/asis/$name"
}

# The configuration both instances share.  The MPM is sized so that its
# processes live for the whole run: no spare-process reaping, no recycling
# (the soak test watches the same children from start to end).
write_common_conf() {
    cat > "$work/common.conf" <<CONF
ServerName 127.0.0.1
PidFile \${INST}/httpd.pid
ErrorLog \${INST}/error_log
LogLevel warn
LoadModule mpm_event_module $bench_moddir/mod_mpm_event.so
LoadModule authz_core_module $bench_moddir/mod_authz_core.so
LoadModule mime_module $bench_moddir/mod_mime.so
LoadModule alias_module $bench_moddir/mod_alias.so
LoadModule asis_module $bench_moddir/mod_asis.so
LoadModule env_module $bench_moddir/mod_env.so
LoadModule headers_module $bench_moddir/mod_headers.so
LoadModule wsgi_module $bench_moddir/mod_wsgi.so
LoadModule cgid_module $bench_moddir/mod_cgid.so
LoadModule xsendfile_module \${XSF_SO}
User $bench_user
Group $bench_group
TypesConfig /etc/mime.types

ServerLimit 2
StartServers 2
ThreadsPerChild 64
MaxRequestWorkers 128
MinSpareThreads 1
MaxSpareThreads 128
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
Timeout 60
EnableSendfile On

DocumentRoot "$work/htdocs"
<Directory />
    Require all denied
</Directory>
<Directory "$work/htdocs">
    Require all granted
</Directory>

# mod_asis backends: fixed responses carrying X-SendFile (absolute paths:
# the original module resolves relative ones against the .asis file).
<Directory "$work/htdocs/asis">
    AddHandler send-as-is asis
    XSendFile On
    XSendFilePath "$work/data"
</Directory>

# Apache's own static serving of the same files.
Alias /static/ "$work/data/"
<Directory "$work/data">
    Require all granted
</Directory>

# A WSGI backend in daemon mode (bench/app.wsgi).
WSGISocketPrefix \${INST}/wsgi
WSGIDaemonProcess bench processes=1 threads=16 display-name=xsf-bench-wsgi
WSGIScriptAlias /app "$work/app.wsgi" process-group=bench application-group=%{GLOBAL}
<Directory "$work">
    <Files app.wsgi>
        Require all granted
    </Files>
</Directory>
<Location /app>
    XSendFile On
    XSendFilePath "$work/data"
    SetEnv XSF_BENCH_DATA "$work/data"
    SetEnv XSF_BENCH_TMP "$work/tmp"
</Location>

# CGI scripts (the stream baseline): a script that writes its bytes itself.
ScriptSock \${INST}/cgid.sock
ScriptAlias /cgi/ "$work/cgi/"
<Directory "$work/cgi">
    Require all granted
</Directory>

IncludeOptional \${INST}/extra.conf
CONF
}

# bench_require MODULE_SO ORIG_SO TOOL...: the module under test is built,
# ORIG_SO is Debian's original module, the tools are installed; or exit 2.
bench_require() {
    [ -f "$1" ] || { echo "$0: no module at $1 (build first)" >&2; exit 2; }
    # `make install` of this project overwrites Debian's file at the same path.
    if [ ! -f "$2" ] || grep -q XSendFileStreamBuffer "$2"; then
        echo "$0: $2 is not the original module (apt-get install --reinstall" \
             "libapache2-mod-xsendfile, or set XSF_ORIG_SO)" >&2
        exit 2
    fi
    shift 2
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$0: $tool is missing" >&2; exit 2; }
    done
}

# write_instance_conf DIR MODULE_SO PORT: DIR/httpd.conf of an instance
# that loads MODULE_SO, listens on 127.0.0.1:PORT and includes the common
# configuration.
write_instance_conf() {
    mkdir -p "$1"
    cat > "$1/httpd.conf" <<CONF
# A benchmark instance (written by bench/lib.sh).
Define INST "$1"
Define XSF_SO "$2"
ServerRoot "$1"
Listen 127.0.0.1:$3
Include "$work/common.conf"
CONF
}

# start_httpd NAME MODULE_SO: start instance NAME on a free port; sets
# port_NAME.  Its extra.conf, if any, must exist by now.
start_httpd() {
    name=$1
    inst=$work/$name
    port=$(xsf_free_port)
    write_instance_conf "$inst" "$2" "$port"
    "$bench_httpd" -f "$inst/httpd.conf" -k start
    bench_started="$bench_started $name"
    eval "port_$name=$port"
    for _ in $(seq 50); do
        if [ -s "$inst/httpd.pid" ] && curl -s -o /dev/null "http://127.0.0.1:$port/"; then
            return 0
        fi
        sleep 0.2
    done
    echo "httpd $name did not start:" >&2
    tail -n 20 "$inst/error_log" >&2
    return 1
}

# Stop instance NAME by the pid in its pid file, and wait until it is gone.
stop_httpd() {
    pidfile=$work/$1/httpd.pid
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "httpd $1 (pid $pid) did not stop" >&2
}

main_pid() {
    cat "$work/$1/httpd.pid"
}

# The worker processes of instance NAME (the mod_wsgi daemon excluded).
worker_pids() {
    for p in $(ps -o pid= --ppid "$(main_pid "$1")"); do
        tr '\0' ' ' < "/proc/$p/cmdline" | grep -q '^xsf-bench-wsgi' || echo "$p"
    done
}

# The mod_wsgi daemon process(es) of instance NAME.
wsgi_pids() {
    for p in $(ps -o pid= --ppid "$(main_pid "$1")"); do
        tr '\0' ' ' < "/proc/$p/cmdline" | grep -q '^xsf-bench-wsgi' && echo "$p"
    done
}

# A /proc/PID/status field in KiB (VmRSS, VmHWM).
vm_kib() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

fd_count() {
    ls "/proc/$1/fd" | wc -l
}

# wrk_run URL CONNECTIONS SECONDS [wrk options]: prints "REQ_PER_SEC
# BYTES_PER_SEC ERRORS", ERRORS counting socket errors and non-2xx/3xx
# responses.  wrk's default 2 s timeout would count a 256 MiB response
# shared among several connections as an error.
wrk_run() {
    url=$1 conns=$2 secs=$3
    shift 3
    wrk -t2 -c"$conns" -d"${secs}s" --timeout 30s "$@" "$url" | awk '
        function bytes(s,   n, u) {
            n = s + 0; u = s; sub(/^[0-9.]+/, "", u)
            if (u == "KB") n *= 1024; else if (u == "MB") n *= 1048576
            else if (u == "GB") n *= 1073741824
            return n
        }
        /^Requests\/sec:/ { rps = $2 }
        /^Transfer\/sec:/ { bps = bytes($2) }
        /Non-2xx or 3xx responses:/ { errors += $NF }
        /Socket errors:/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
        END { printf "%s %.0f %d\n", rps, bps, errors }'
}
