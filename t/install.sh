#!/bin/sh
# `make install` and `make uninstall` (TAP), into a scratch root: what is
# installed, that uninstall leaves nothing, and that both refuse to touch a
# file a distribution package owns (a stand-in dpkg-query claims one) or,
# for uninstall, an enabled module.  Run from the top build directory by
# `make check`, which exports MAKE and modsavailabledir.
set -eu
MAKE=${MAKE:-make}
srcdir=${srcdir:-.}
tmp=$(mktemp -d /tmp/xsf-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mods=$root/etc/apache2/mods-available

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/#   /' "$tmp/out"; }
check() { if "$@"; then ok "$description"; else not_ok "$description"; fi; }

# make TARGET [VAR=value...] with every installation directory below
# $root; the output goes to $tmp/out, the exit status is make's.
make_in_root() {
    set -- "$@" prefix="$root/usr/local" moduledir="$root/usr/lib/apache2/modules"
    [ -z "${modsavailabledir:-}" ] || set -- "$@" modsavailabledir="$mods"
    $MAKE -s "$@" > "$tmp/out" 2>&1
}
installed() { (cd "$root" && find . -type f -o -type l | sort); }
# configure --enable-fifo-install adds the fifo library, under file names
# that are libtool's and the platform's, and its headers.
without_fifo() {
    if [ "${fifo_install:-no}" = yes ]; then
        grep -v -e '^\./usr/local/lib/libfifo\.' -e '^\./usr/local/include/mod_xsendfile/' || true
    else
        cat
    fi
}
fifo_as_configured() {
    [ "${fifo_install:-no}" = no ] ||
        { installed | grep -qx ./usr/local/lib/libfifo.so &&
          installed | grep -qx ./usr/local/include/mod_xsendfile/fifo.h; }
}

# A dpkg-query that says the package "fakepkg" owns $XSF_OWNED.
mkdir -p "$tmp/bin" "$root"
cat > "$tmp/bin/dpkg-query" <<'EOF'
#!/bin/sh
[ "$1" = -S ] && [ "$2" = "$XSF_OWNED" ] || exit 1
echo "fakepkg: $2"
EOF
chmod +x "$tmp/bin/dpkg-query"
owned_by_fakepkg() {
    owned=$1
    shift
    XSF_OWNED=$owned PATH=$tmp/bin:$PATH make_in_root "$@"
}

{
    echo ./usr/lib/apache2/modules/mod_xsendfile.so
    echo ./usr/local/share/man/man8/mod_xsendfile.8
    if [ -n "${modsavailabledir:-}" ]; then
        echo ./etc/apache2/mods-available/xsendfile.conf
        echo ./etc/apache2/mods-available/xsendfile.load
    fi
} | sort > "$tmp/expected"

echo 1..7

description="make install installs the module, its .load/.conf and man page, nothing else"
[ "${fifo_install:-no}" = no ] || description="$description but the fifo library (--enable-fifo-install)"
make_in_root install || true
installed | without_fifo > "$tmp/got"
diff "$tmp/expected" "$tmp/got" >> "$tmp/out" 2>&1 || true
module_only() { cmp -s "$tmp/expected" "$tmp/got" && fifo_as_configured; }
check module_only

description="make uninstall leaves no file behind"
make_in_root uninstall || true
installed >> "$tmp/out"
check test -z "$(installed)"

so=$root/usr/lib/apache2/modules/mod_xsendfile.so
load=$mods/xsendfile.load
[ -n "${modsavailabledir:-}" ] || load=$so

install_refused() {
    ! owned_by_fakepkg "$so" install && [ -z "$(installed)" ] &&
        grep -q "belongs to the Debian package fakepkg" "$tmp/out" &&
        grep -q "sudo apt-get purge fakepkg" "$tmp/out" &&
        grep -q "dpkg-buildpackage -us -uc -b" "$tmp/out"
}
description="make install refuses a module path a package owns, installs nothing, says what to run"
check install_refused

uninstall_refused() {
    ! owned_by_fakepkg "$load" uninstall && installed | cmp -s - "$tmp/before" &&
        grep -q "sudo apt-get remove fakepkg" "$tmp/out"
}
description="make uninstall removes nothing while one of its files belongs to a package"
make_in_root install || true
installed > "$tmp/before"
check uninstall_refused

uninstall_refused_enabled() {
    ! make_in_root uninstall && installed | cmp -s - "$tmp/before" &&
        grep -q "a2dismod xsendfile" "$tmp/out"
}
if [ -n "${modsavailabledir:-}" ]; then
    description="make uninstall refuses while the module is enabled"
    mkdir -p "$root/etc/apache2/mods-enabled"
    ln -s ../mods-available/xsendfile.load "$root/etc/apache2/mods-enabled/xsendfile.load"
    installed > "$tmp/before"
    check uninstall_refused_enabled
    rm -r "$root/etc/apache2/mods-enabled"
else
    ok "# SKIP no mods-available directory configured"
fi
make_in_root uninstall || true

staged_install() {
    owned_by_fakepkg "$so" install DESTDIR="$tmp/stage" &&
        test -f "$tmp/stage$so" && [ -z "$(installed)" ]
}
description="a staged install (DESTDIR) is not checked against the packages"
check staged_install

# The real package database: Debian's libapache2-mod-xsendfile, where
# installed, owns the system's module path.
system_so=/usr/lib/apache2/modules/mod_xsendfile.so
guard_refuses_system_so() {
    ! sh "$srcdir/scripts/install-guard.sh" install "$system_so" > "$tmp/out" 2>&1
}
if command -v dpkg-query > /dev/null && dpkg-query -S "$system_so" > /dev/null 2>&1; then
    description="the guard refuses $system_so, owned by $(dpkg-query -S "$system_so" | cut -d: -f1)"
    check guard_refuses_system_so
else
    ok "# SKIP no package owns $system_so here"
fi
