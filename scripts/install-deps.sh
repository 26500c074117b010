#!/bin/sh
# Install the Debian packages listed in scripts/debian-packages.txt.
# Needs root (or sudo); does nothing when all of them are installed.
set -eu
cd "$(dirname "$0")/.."
pkgs=$(grep -v '^#' scripts/debian-packages.txt | tr '\n' ' ')
missing=
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
echo "installing:$missing"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
