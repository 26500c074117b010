#!/bin/sh
# The man page against the source (TAP): every directive the module
# registers and every log message id it writes has its row in
# mod_xsendfile.8, no row names something the source lacks, the version is
# the package's, and man(1) renders the page without a warning.
#
#   srcdir=. PACKAGE_VERSION=2.0.0 sh t/manpage.sh
set -eu
srcdir=${srcdir:-.}
page=$srcdir/mod_xsendfile.8
tmp=$(mktemp -d /tmp/xsf-manpage.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; }

# The first field of each row of the table under the section heading $1.
table_keys() {
    awk -v section="$1" '
        /^\.SH / { in_section = ($0 == ".SH " section) }
        in_section && /^\.TS/ { in_table = 1; started = 0; header = 1; next }
        /^\.TE/ { in_table = 0 }
        in_table && /\.$/ && !started { started = 1; next }  # the format line
        in_table && started && /^[A-Za-z0-9]+\t/ {
            if (header) { header = 0; next }
            split($0, f, "\t"); print f[1]
        }
    ' "$page" | sort -u
}

# Compare what the source has ($2) with the table's rows ($3).
same_set() {
    what=$1
    comm -23 "$2" "$3" > "$tmp/missing"
    comm -13 "$2" "$3" > "$tmp/stale"
    if [ -s "$tmp/missing" ] || [ -s "$tmp/stale" ]; then
        not_ok "$what"
        sed 's/^/#   no row in mod_xsendfile.8: /' "$tmp/missing"
        sed 's/^/#   row for nothing in the source: /' "$tmp/stale"
    else
        ok "$what ($(wc -l < "$2") rows)"
    fi
}

echo 1..4

# Directive names are string literals followed by a comma: the first
# argument of AP_INIT_* (or of a macro around it).
grep -ho '("XSendFile[A-Za-z]*",' "$srcdir"/mod_xsendfile.c \
    | tr -d '(",' | sort -u > "$tmp/src-directives"
table_keys DIRECTIVES > "$tmp/man-directives"
same_set "every directive has its row in DIRECTIVES" \
    "$tmp/src-directives" "$tmp/man-directives"

grep -ho 'XSF[0-9][0-9][0-9][0-9]' "$srcdir"/*.c | sort -u > "$tmp/src-ids"
table_keys "LOG MESSAGES" > "$tmp/man-ids"
same_set "every log message id has its row in LOG MESSAGES" \
    "$tmp/src-ids" "$tmp/man-ids"

th_version=$(sed -n 's/^\.TH .* "mod_xsendfile \([^"]*\)".*/\1/p' "$page")
if [ "$th_version" = "${PACKAGE_VERSION:?}" ]; then
    ok "the .TH line names version $th_version"
else
    not_ok "the .TH line names version '$th_version', the package is $PACKAGE_VERSION"
fi

# On a terminal, and as lintian renders it (its check
# documentation/manual: troff output at 120 columns, where a table text
# block taller than tbl allows is a warning).
if ! command -v man > /dev/null; then
    ok "# SKIP man(1) is not installed"
else
    {
        MANWIDTH=80 man --warnings -E UTF-8 -l "$page" > /dev/null || true
        env -i PATH="$PATH" LC_ALL=C.UTF-8 MANROFFSEQ= MANWIDTH=120 \
            man --warnings -E UTF-8 -l -Tutf8 -Z "$page" > /dev/null || true
    } 2> "$tmp/warnings"
    if [ -s "$tmp/warnings" ]; then
        not_ok "man --warnings renders the page without a warning, also as lintian does"
        sed 's/^/#   /' "$tmp/warnings"
    else
        ok "man --warnings renders the page without a warning, also as lintian does"
    fi
fi
