#!/bin/sh
# t/unit/module_links.sh: the module links the fifo and nothing else of
# the fifo library (SPEC section 9): its .so carries fifo.c, needs no zlib
# and holds none of the stages (chunked, deflate, pipeline).  TAP output;
# MODULE_SO names the .so (`make check` sets it).
set -u

so=${MODULE_SO:?set MODULE_SO to the built mod_xsendfile.so}
n=0
failed=0

check() {
    n=$((n + 1))
    if eval "$2"; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        failed=1
    fi
}

check "the module is built" '[ -f "$so" ]'
check "it carries the fifo (fifo_create)" 'nm "$so" | grep -q " fifo_create$"'
check "it needs no libz" '! readelf -d "$so" | grep NEEDED | grep -q libz'
check "it holds no chunked, deflate or pipeline code" \
    '! nm "$so" | grep -Eq " fifo_(chunked|deflate|pipeline)_"'
check "it exports xsendfile_module alone" \
    '[ "$(nm -D --defined-only "$so" | awk "{ print \$3 }")" = xsendfile_module ]'
echo "1..$n"
exit $failed
