#!/bin/sh
# Build the module and start a throwaway Apache on 127.0.0.1 with a demo
# backend (mod_wsgi) that serves protected files through X-SendFile.
#
#   scripts/demo.sh [--background] [--no-install]
#
# Foreground by default: Ctrl-C stops it.  --background prints the
# server's process id and returns.  Everything lives in a temporary
# directory (below $TMPDIR, default /tmp), removed when the server stops in
# foreground mode, and on any error in either mode.  --no-install skips
# installing the Debian packages the project lists.
set -eu
background=no
install=yes
for arg in "$@"; do
    case $arg in
    --background) background=yes ;;
    --no-install) install=no ;;
    *) echo "usage: $0 [--background] [--no-install]" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
top=$(pwd)
. scripts/lib.sh
[ "$install" = no ] || scripts/install-deps.sh

# make knows whether the module is up to date.
[ -f Makefile ] || { autoreconf -fi && ./configure; }
make -j2

dir=$(xsf_scratch xsf-demo)
httpd_pid=
# On every exit but a successful --background start: stop the server this
# script started (by its pid), then remove the directory.
cleanup() {
    status=$?
    trap - EXIT INT TERM
    if [ -n "$httpd_pid" ]; then
        kill "$httpd_pid" 2> /dev/null || true
        wait "$httpd_pid" 2> /dev/null || true
    fi
    rm -rf "$dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$dir/protected" "$dir/htdocs" "$dir/logs"
echo "Only for people with the token." > "$dir/protected/report.txt"
printf 'caf\303\251 \342\202\254 file, with a UTF-8 name\n' > "$dir/protected/café €.txt"
head -c 10485760 /dev/urandom > "$dir/protected/big.bin"
cp demo/app.wsgi "$dir/app.wsgi"
chmod -R a+rX "$dir"

port=$(xsf_free_port)
moddir=$(xsf_moddir)
user=$(xsf_server_user)
group=$(xsf_server_group)

cat > "$dir/httpd.conf" <<CONF
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile $dir/logs/httpd.pid
ErrorLog $dir/logs/error_log
LogLevel info xsendfile:debug
LoadModule mpm_event_module $moddir/mod_mpm_event.so
LoadModule authz_core_module $moddir/mod_authz_core.so
LoadModule mime_module $moddir/mod_mime.so
<IfModule !log_config_module>
LoadModule log_config_module $moddir/mod_log_config.so
</IfModule>
LoadModule wsgi_module $moddir/mod_wsgi.so
LoadModule xsendfile_module $top/.libs/mod_xsendfile.so
<IfModule unixd_module>
User $user
Group $group
</IfModule>
TypesConfig /etc/mime.types
CustomLog $dir/logs/access_log "%h %t \"%r\" %>s %b %f"
# The document root is an empty directory anyone may read, not the
# protected one: mod_wsgi maps the path after /app (PATH_TRANSLATED) through
# it for every request, and a denied directory there logs AH01630 each time.
DocumentRoot "$dir/htdocs"
<Directory />
    Require all denied
</Directory>
<Directory $dir/htdocs>
    Require all granted
</Directory>
WSGISocketPrefix $dir/logs/wsgi
WSGIDaemonProcess demo processes=1 threads=4
WSGIScriptAlias /app $dir/app.wsgi process-group=demo
<Directory $dir>
    <Files app.wsgi>
        Require all granted
    </Files>
</Directory>
<Location /app>
    XSendFile On
    XSendFilePath $dir/protected
</Location>
CONF
# The WSGI app reads its directory from the environment.
sed -i "s|^PROTECTED = .*|PROTECTED = '$dir/protected'|" "$dir/app.wsgi"

httpd=$(xsf_httpd)
echo
echo "mod_xsendfile demo: http://127.0.0.1:$port/app/"
echo "  with the token:    curl -OJ 'http://127.0.0.1:$port/app/download?name=report.txt&token=letmein'"
echo "  without it:        curl -i 'http://127.0.0.1:$port/app/download?name=report.txt'"
echo "  logs:              $dir/logs/"
if [ "$background" = yes ]; then
    "$httpd" -f "$dir/httpd.conf" -k start
    sleep 1
    [ -f "$dir/logs/httpd.pid" ] || { tail "$dir/logs/error_log"; exit 1; }
    echo "  stop with:         kill \$(cat $dir/logs/httpd.pid); rm -rf $dir"
    trap - EXIT INT TERM
    exit 0
fi
echo "  Ctrl-C stops it."
# In the background of this shell, so that Ctrl-C reaches the traps above
# and the server is stopped by its pid.
"$httpd" -f "$dir/httpd.conf" -DFOREGROUND &
httpd_pid=$!
wait "$httpd_pid"
