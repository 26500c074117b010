#!/bin/sh
# Install the S3-compatible server that t/s3.t runs (s3rver, the
# @20minutes fork that verifies SigV4 signatures) from the npm registry,
# at the versions pinned in scripts/s3rver/package-lock.json, into a cache
# directory; print that directory's node_modules path.  Does nothing but
# print when the pinned set is already installed there.
#
#   scripts/install-s3rver.sh            # cache: /var/cache/xsf-s3rver
#   XSF_S3RVER_DIR=/some/dir scripts/install-s3rver.sh
#
# Needs node and npm (the machine's Node.js 20); the test calls this.
set -eu
src=$(cd "$(dirname "$0")/s3rver" && pwd)
if [ -z "${XSF_S3RVER_DIR:-}" ]; then
    if [ -w /var/cache ]; then
        XSF_S3RVER_DIR=/var/cache/xsf-s3rver
    else
        XSF_S3RVER_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/xsf-s3rver
    fi
fi
dir=$XSF_S3RVER_DIR
mkdir -p "$(dirname "$dir")"
# One installer at a time (test suites may run side by side).
exec 9>"$dir.lock"
flock 9
if ! cmp -s "$src/package-lock.json" "$dir/installed.lock" ||
   [ ! -f "$dir/node_modules/@20minutes/s3rver/package.json" ]; then
    command -v npm >/dev/null || { echo "$0: npm is not installed" >&2; exit 1; }
    mkdir -p "$dir"
    rm -f "$dir/installed.lock"
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    # npm's own messages go to stderr: stdout carries only the path.
    (cd "$dir" && npm ci --omit=dev --no-audit --no-fund --loglevel=error) >&2
    cp "$src/package-lock.json" "$dir/installed.lock"
fi
echo "$dir/node_modules"
