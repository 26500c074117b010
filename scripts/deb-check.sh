#!/bin/sh
# make deb-check: build the Debian package from a release tarball, check it
# with lintian, then try it in a clean Debian root as an administrator would:
#
#   1. debootstrap a minimal root of this machine's Debian release from the
#      mirror apt uses here; install apache2 and a site that serves files
#      through X-SendFile (a CGI script), then Debian's own
#      libapache2-mod-xsendfile (0.12): the site works;
#   2. install the new package over it: configtest passes, the module stays
#      enabled, downloads work (a non-ASCII name too, and a percent-encoded
#      one that only the new module decodes, which proves it is loaded), and
#      apt would not put 0.12 back by itself;
#   3. apt-get remove: the module is disabled, its files gone but the
#      conffiles, Apache still configtests; apt-get purge: /etc/apache2 and
#      Apache's module state are exactly as before the first install;
#   4. Debian's package installs again and serves the site.
#
# Apache runs inside the root, on a free port of 127.0.0.1, and is stopped by
# its pid; /proc is mounted for apt and unmounted on every exit.
#
#   scripts/deb-check.sh mod_xsendfile-VERSION.tar.gz
#
# Needs root, debootstrap, dpkg-buildpackage (build-essential, debhelper,
# apache2-dev), lintian, curl and python3.  XSF_DEB_CACHE (default
# /var/cache/xsf-deb-check) keeps the debootstrap tarball and apt's lists and
# downloads between runs; delete it to start from nothing.  XSF_KEEP=1 keeps
# the work directory.
set -eu
. "$(dirname "$0")/lib.sh"

tarball=$(realpath "${1:?usage: $0 mod_xsendfile-VERSION.tar.gz}")
cache=${XSF_DEB_CACHE:-/var/cache/xsf-deb-check}
# shellcheck source=/dev/null
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:?not a Debian release}")
start_time=$(date +%s)

[ "$(id -u)" = 0 ] || { echo "deb-check: needs root (debootstrap, chroot, mount)" >&2; exit 1; }

work=$(mktemp -d /tmp/xsf-deb-check.XXXXXX)
root=$work/root
apache_pid=

step() { echo "==> [$(($(date +%s) - start_time)) s] $*"; }
fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }

# A command inside the root, in a clean environment.
in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}
apt_in_root() { in_root apt-get -q -y -o Dpkg::Use-Pty=0 "$@"; }

# ---- the mirror apt uses on this machine ----

# The first URI apt's sources give for suite $1, one-line or deb822 format.
apt_uri() {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n 's/\[[^]]*\]//; s/^deb[[:space:]]\{1,\}\([^[:space:]]\{1,\}\)[[:space:]]\{1,\}'"$1"'[[:space:]].*/\1/p' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$1" '
            BEGIN { RS = "" }
            {
                deb = 0; hit = 0; uri = ""; enabled = 1
                n = split($0, line, "\n")
                for (i = 1; i <= n; i++) {
                    m = split(line[i], w, /[ \t]+/)
                    if (w[1] == "Types:")   for (j = 2; j <= m; j++) if (w[j] == "deb") deb = 1
                    if (w[1] == "Suites:")  for (j = 2; j <= m; j++) if (w[j] == suite) hit = 1
                    if (w[1] == "URIs:")    uri = w[2]
                    if (w[1] == "Enabled:" && w[2] == "no") enabled = 0
                }
                if (deb && hit && enabled && uri != "") print uri
            }' "$f"
    done
}
mirror=$(apt_uri "$suite" | head -n 1)
security=$(apt_uri "$suite-security" | head -n 1)
[ -n "$mirror" ] || fail "apt has no source for $suite here"

# ---- cleanup: every exit path ----

stop_apache() {
    [ -n "$apache_pid" ] || return 0
    kill "$apache_pid" 2> /dev/null || true
    i=0
    while kill -0 "$apache_pid" 2> /dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -0 "$apache_pid" 2> /dev/null && kill -KILL "$apache_pid"
    apache_pid=
}

# Processes whose root directory is ours: none may outlive the check.
processes_in_root() {
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2> /dev/null)" = "$root" ] && echo "${p#/proc/}"
    done
    return 0
}

# apt's downloaded packages and lists, between the root and the cache.
copy_apt_state() {
    find "$1" -maxdepth 1 -type f ! -name lock -exec cp -pu {} "$2/" \;
}

mounts_below_work() { awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r; }

cleanup() {
    status=$?
    trap - EXIT INT TERM
    stop_apache
    for pid in $(processes_in_root); do
        echo "deb-check: stopping process $pid left in the root" >&2
        kill -KILL "$pid" 2> /dev/null || true
        status=1
    done
    if [ -d "$root/var/cache/apt/archives" ]; then
        copy_apt_state "$root/var/cache/apt/archives" "$cache/archives"
        copy_apt_state "$root/var/lib/apt/lists" "$cache/lists"
    fi
    for m in $(mounts_below_work); do
        umount "$m" || umount -l "$m"
    done
    if [ -n "$(mounts_below_work)" ]; then
        echo "deb-check: still mounted below $work; not removing it" >&2
        status=1
    elif [ "${XSF_KEEP:-0}" = 1 ]; then
        echo "deb-check: work directory kept: $work"
    else
        rm -rf "$work"
    fi
    echo "deb-check: $(($(date +%s) - start_time)) s"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$cache/archives" "$cache/lists"

# ---- 0. the package ----

step "building the package from $(basename "$tarball")"
mkdir "$work/build"
tar -C "$work/build" -xzf "$tarball"
(cd "$work/build"/*/ && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) \
    > "$work/build.log" 2>&1 || { tail -n 30 "$work/build.log"; fail "dpkg-buildpackage"; }
deb=$(ls "$work"/build/libapache2-mod-xsendfile_*.deb)
step "lintian $(basename "$deb")"
lintian --fail-on error,warning --info "$work"/build/*.changes || fail "lintian"

# ---- 1. a clean root with Apache and Debian's module ----

base=$cache/$suite-minbase.tar.gz
if [ ! -f "$base" ]; then
    step "debootstrap $suite from $mirror (cached as $base)"
    debootstrap --variant=minbase "$suite" "$work/base" "$mirror" > "$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log"; fail "debootstrap"; }
    tar -C "$work/base" -czf "$base.tmp" .
    mv "$base.tmp" "$base"
    rm -rf "$work/base"
fi
step "a fresh root from $base"
mkdir "$root"
tar -C "$root" -xzf "$base"
{
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    [ -z "$security" ] || echo "deb $security $suite-security main"
} > "$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# Packages must not start services in the root: the check starts Apache itself.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
# A throwaway root: dpkg need not sync every file it unpacks.
echo force-unsafe-io > "$root/etc/dpkg/dpkg.cfg.d/xsf-deb-check"
copy_apt_state "$cache/lists" "$root/var/lib/apt/lists"
copy_apt_state "$cache/archives" "$root/var/cache/apt/archives"
mount -t proc proc "$root/proc"

step "apt-get update"
apt_in_root update > "$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get update"; }
step "apt-get install apache2"
apt_in_root install --no-install-recommends apache2 >> "$work/apt.log" 2>&1 \
    || { tail -n 30 "$work/apt.log"; fail "apt-get install apache2"; }

port=$(xsf_free_port)
echo "Listen 127.0.0.1:$port" > "$root/etc/apache2/ports.conf"

# The site an administrator of Debian's module already has: a CGI script
# names files below /srv/xsf/files.  <IfModule>: Apache must still start
# while the module is not installed.
files=$root/srv/xsf/files
mkdir -p "$files" "$root/srv/xsf/cgi"
head -c 200000 /dev/urandom > "$files/hello.bin"
head -c 300000 /dev/urandom > "$files/café €.bin"
cat > "$root/srv/xsf/cgi/get" <<'EOF'
#!/bin/sh
# ?ascii, ?utf8 (the name as raw UTF-8), ?percent (percent-encoded UTF-8)
case $QUERY_STRING in
ascii) file='/srv/xsf/files/hello.bin' ;;
utf8) file='/srv/xsf/files/café €.bin' ;;
percent) file='/srv/xsf/files/caf%C3%A9%20%E2%82%AC.bin' ;;
*) printf 'Status: 400\r\n\r\n'; exit 0 ;;
esac
printf 'Content-Type: application/octet-stream\r\n'
printf 'X-SendFile: %s\r\n\r\n' "$file"
echo "the backend's body, which must never reach the client"
EOF
chmod -R a+rX "$root/srv/xsf"
chmod 755 "$root/srv/xsf/cgi/get"
cat > "$root/etc/apache2/conf-available/xsf-site.conf" <<'EOF'
ServerName 127.0.0.1
ScriptAlias /cgi/ /srv/xsf/cgi/
<Directory /srv/xsf/cgi>
    Require all granted
</Directory>
<IfModule xsendfile_module>
    <Location /cgi/>
        XSendFile On
        XSendFilePath /srv/xsf/files
    </Location>
</IfModule>
EOF
in_root a2enmod -q cgid
in_root a2enconf -q xsf-site

# Everything of Apache's that a module package may touch: the files with
# their checksums, the symbolic links with their targets.
snapshot() {
    (
        cd "$root"
        set --
        for d in etc/apache2 usr/lib/apache2/modules usr/share/man/man8 \
                var/lib/apache2 usr/share/doc/libapache2-mod-xsendfile; do
            if [ -e "$d" ]; then set -- "$@" "$d"; fi
        done
        find "$@" -type f -exec md5sum {} +
        find "$@" -type l -printf '%p -> %l\n'
    ) | sort
}
snapshot > "$work/before"

configtest() { in_root apache2ctl configtest > "$work/configtest" 2>&1 || { cat "$work/configtest"; fail "configtest $1"; }; }

start_apache() {
    configtest "$1"
    in_root APACHE_STARTED_BY_SYSTEMD=1 apache2ctl start \
        || fail "Apache did not start $1"
    # /var/run is a symlink to /run, absolute: read the pid below the root.
    i=0
    while [ ! -s "$root/run/apache2/apache2.pid" ] && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    apache_pid=$(cat "$root/run/apache2/apache2.pid") || fail "no pid file $1"
}

# download QUERY EXPECTED_FILE|404 WHEN
download() {
    code=$(curl -s -o "$work/got" -w '%{http_code}' "http://127.0.0.1:$port/cgi/get?$1") || true
    if [ "$2" = 404 ]; then
        [ "$code" = 404 ] || fail "?$1 $3: status $code, expected 404"
    else
        [ "$code" = 200 ] || fail "?$1 $3: status $code"
        cmp -s "$work/got" "$files/$2" || fail "?$1 $3: the bytes differ from $2"
    fi
    echo "    ?$1: $code"
}

# serve_site WHEN MODULE: Debian's 0.12 reads names as raw bytes only; the
# new module decodes the percent-encoded name too.
serve_site() {
    start_apache "$1"
    download ascii hello.bin "$1"
    download utf8 'café €.bin' "$1"
    if [ "$2" = new ]; then
        download percent 'café €.bin' "$1"
    else
        download percent 404 "$1"
    fi
    stop_apache
}

# (${...} below are dpkg-query's format fields, not the shell's.)
# shellcheck disable=SC2016
installed_version() { in_root dpkg-query -W -f '${Status} ${Version}' libapache2-mod-xsendfile 2> /dev/null || true; }

step "apt-get install libapache2-mod-xsendfile (Debian's)"
apt_in_root install libapache2-mod-xsendfile >> "$work/apt.log" 2>&1 \
    || { tail -n 30 "$work/apt.log"; fail "installing Debian's package"; }
debian_version=$(installed_version)
echo "    $debian_version"
serve_site "with Debian's module" old

# ---- 2. the new package over it ----

step "apt-get install $(basename "$deb")"
cp "$deb" "$root/tmp/"
apt_in_root install "/tmp/$(basename "$deb")" >> "$work/apt.log" 2>&1 \
    || { tail -n 30 "$work/apt.log"; fail "installing the new package"; }
new_version=$(installed_version)
echo "    $new_version"
[ "$new_version" = "install ok installed $(dpkg-deb -f "$deb" Version)" ] \
    || fail "installed: $new_version"
in_root a2query -q -m xsendfile || fail "the module is not enabled after the upgrade"
serve_site "with the new module" new
in_root dpkg-query -L libapache2-mod-xsendfile > "$work/new-files"
# shellcheck disable=SC2016
in_root dpkg-query -W -f '${Conffiles}\n' libapache2-mod-xsendfile \
    | awk 'NF { print $1 }' > "$work/new-conffiles"
grep -qx /usr/share/man/man8/mod_xsendfile.8.gz "$work/new-files" || fail "no man page installed"
# apt keeps the newer version: neither an upgrade nor an install of the
# package name brings Debian's 0.12 back.
apt_in_root -s dist-upgrade > "$work/sim" 2>&1
! grep -q 'xsendfile' "$work/sim" || { cat "$work/sim"; fail "dist-upgrade would change the module"; }
apt_in_root -s install libapache2-mod-xsendfile > "$work/sim" 2>&1
grep -q 'libapache2-mod-xsendfile is already the newest version' "$work/sim" \
    || { cat "$work/sim"; fail "apt-get install libapache2-mod-xsendfile would change the module"; }

# Files of the package that exist in the root (directories aside).
present_files() {
    while IFS= read -r f; do
        if [ ! -d "$root$f" ] && { [ -e "$root$f" ] || [ -L "$root$f" ]; }; then
            echo "$f"
        fi
    done < "$1"
    return 0
}

# ---- 3. remove, purge ----

step "apt-get remove libapache2-mod-xsendfile"
apt_in_root remove libapache2-mod-xsendfile >> "$work/apt.log" 2>&1 || fail "apt-get remove"
ls "$root"/etc/apache2/mods-enabled/xsendfile.* > /dev/null 2>&1 \
    && fail "mods-enabled still has $(ls "$root"/etc/apache2/mods-enabled/xsendfile.*)"
present_files "$work/new-files" | sort > "$work/left"
sort "$work/new-conffiles" > "$work/conffiles"
diff "$work/conffiles" "$work/left" || fail "after remove, files other than the conffiles are left"
configtest "after apt-get remove"
echo "    left: the conffiles only; configtest: $(tail -n 1 "$work/configtest")"

step "apt-get purge libapache2-mod-xsendfile"
apt_in_root purge libapache2-mod-xsendfile >> "$work/apt.log" 2>&1 || fail "apt-get purge"
[ -z "$(present_files "$work/new-files")" ] \
    || fail "after purge: $(present_files "$work/new-files" | tr '\n' ' ')"
[ -z "$(installed_version)" ] || [ "$(installed_version)" = "unknown ok not-installed " ] \
    || fail "dpkg still knows the package: $(installed_version)"
step "comparing Apache's files and module state with those before the first install"
snapshot > "$work/after"
diff "$work/before" "$work/after" || fail "purge did not restore Apache's files and module state"
configtest "after apt-get purge"
echo "    the same"

# ---- 4. Debian's package again ----

step "apt-get install libapache2-mod-xsendfile (Debian's, again)"
apt_in_root install libapache2-mod-xsendfile >> "$work/apt.log" 2>&1 \
    || { tail -n 30 "$work/apt.log"; fail "installing Debian's package again"; }
[ "$(installed_version)" = "$debian_version" ] || fail "installed again: $(installed_version)"
serve_site "with Debian's module again" old

step "deb-check: all passed"
