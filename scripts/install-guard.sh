#!/bin/sh
# Run by `make install` and `make uninstall` before they write or remove a
# file: refuse, and say what to run instead, when one of those files belongs
# to a distribution package (dpkg or rpm).  A file installed over a
# package's would be put back by the package's next upgrade and deleted by
# its removal; a package's file removed by `make uninstall` breaks it.
# `make uninstall` also refuses while the module is enabled in Debian's
# mods-enabled: Apache would not start any more.
#
#   DESTDIR=... scripts/install-guard.sh install|uninstall FILE...
#
# A staged install (DESTDIR set, as dpkg-buildpackage and rpmbuild do)
# writes into a scratch tree that no package owns: nothing to check.
set -eu
action=$1
shift
[ -z "${DESTDIR:-}" ] || exit 0

# Print "Debian <package>" or "RPM <package>" for the package owning $1, if any.
package_of() {
    if command -v dpkg-query > /dev/null 2>&1; then
        # "pkg[, pkg2]: /path"; "diversion by ..." lines name no owner.
        pkg=$(dpkg-query -S "$1" 2> /dev/null | grep -v '^diversion by ' \
              | sed -n '1s/^\([^:]*\): .*/\1/p' | sed 's/,.*//')
        [ -z "$pkg" ] || { echo "Debian $pkg"; return; }
    fi
    if command -v rpm > /dev/null 2>&1 && pkg=$(rpm -qf "$1" 2> /dev/null); then
        echo "RPM $pkg"
    fi
}

refused=
for file in "$@"; do
    owner=$(package_of "$file")
    [ -n "$owner" ] || continue
    manager=${owner%% *}
    pkg=${owner#* }
    echo "make $action: $file belongs to the $manager package $pkg." >&2
    refused="$manager $pkg"
done

if [ -n "$refused" ]; then
    manager=${refused%% *}
    pkg=${refused#* }
    if [ "$action" = uninstall ]; then
        case $manager in
        Debian) remove="sudo apt-get remove $pkg" ;;
        *) remove="sudo rpm -e $pkg" ;;
        esac
        cat >&2 <<EOF
Nothing was removed: these files are the package's, not this build's.
To remove the package instead:

    $remove
EOF
    elif [ "$manager" = Debian ]; then
        cat >&2 <<EOF
Nothing was installed.  Installed over the package's files, this build would
be undone by the package's next upgrade and deleted by its removal.  Build
and install this module as the Debian package libapache2-mod-xsendfile
instead (README, "Replacing Debian's libapache2-mod-xsendfile"):

    dpkg-buildpackage -us -uc -b && sudo apt-get install ../libapache2-mod-xsendfile_*.deb

or remove the package, with its configuration, first:

    sudo apt-get purge $pkg
EOF
    else
        cat >&2 <<EOF
Nothing was installed.  Installed over the package's files, this build would
be undone by the package's next upgrade and deleted by its removal.  Build
the RPM instead (make dist, then rpmbuild -ta), or remove the package first:

    sudo rpm -e $pkg
EOF
    fi
    exit 1
fi

if [ "$action" = uninstall ]; then
    for file in "$@"; do
        case $file in
        */mods-available/*.load) ;;
        *) continue ;;
        esac
        module=$(basename "$file" .load)
        enabled=${file%/mods-available/*}/mods-enabled/$module.load
        if [ -e "$enabled" ] || [ -L "$enabled" ]; then
            cat >&2 <<EOF
make uninstall: the module is enabled ($enabled); without it Apache
would not start.  Nothing was removed.  Disable it first:

    sudo a2dismod $module && sudo systemctl restart apache2
EOF
            exit 1
        fi
    done
fi
exit 0
