#!/bin/sh
# Build the module and start a throwaway Apache on 127.0.0.1 with a demo
# backend (mod_wsgi) that serves protected files through X-SendFile.
#
#   scripts/demo.sh [--background]
#
# Foreground by default: Ctrl-C stops it.  --background prints the
# server's process id and returns.  Everything lives in a temporary
# directory that is removed when the server stops (foreground mode).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
scripts/install-deps.sh

if [ ! -f .libs/mod_xsendfile.so ] || [ mod_xsendfile.c -nt .libs/mod_xsendfile.so ] \
   || [ xsf_path.c -nt .libs/mod_xsendfile.so ]; then
    [ -f Makefile ] || { autoreconf -fi && ./configure; }
    make -j2
fi

dir=$(mktemp -d /tmp/xsf-demo.XXXXXX)
chmod 755 "$dir"
mkdir -p "$dir/protected" "$dir/logs"
echo "Only for people with the token." > "$dir/protected/report.txt"
printf 'caf\303\251 \342\202\254 file, with a UTF-8 name\n' > "$dir/protected/café €.txt"
head -c 10485760 /dev/urandom > "$dir/protected/big.bin"
cp demo/app.wsgi "$dir/app.wsgi"
chmod -R a+rX "$dir"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moddir=$(apxs2 -q LIBEXECDIR)
user=www-data
id "$user" >/dev/null 2>&1 || user=nobody
group=$(id -gn "$user")

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
DocumentRoot "$dir/protected"
<Directory />
    Require all denied
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

httpd=$(apxs2 -q SBINDIR)/$(apxs2 -q TARGET)
echo
echo "mod_xsendfile demo: http://127.0.0.1:$port/app/"
echo "  with the token:    curl -OJ 'http://127.0.0.1:$port/app/download?name=report.txt&token=letmein'"
echo "  without it:        curl -i 'http://127.0.0.1:$port/app/download?name=report.txt'"
echo "  logs:              $dir/logs/"
if [ "${1:-}" = --background ]; then
    "$httpd" -f "$dir/httpd.conf" -k start
    sleep 1
    [ -f "$dir/logs/httpd.pid" ] || { tail "$dir/logs/error_log"; exit 1; }
    echo "  stop with:         kill \$(cat $dir/logs/httpd.pid); rm -rf $dir"
    exit 0
fi
echo "  Ctrl-C stops it."
trap 'kill "$(cat "$dir/logs/httpd.pid" 2>/dev/null)" 2>/dev/null; sleep 1; rm -rf "$dir"' EXIT INT TERM
"$httpd" -f "$dir/httpd.conf" -DFOREGROUND
