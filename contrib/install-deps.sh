#!/bin/sh
# install-deps.sh - install the Debian 12 packages the build, the tests and
# the demo need, only those that are missing. Needs root (or sudo) and
# Debian's package archive; safe to run again.
set -eu

PKGS="autoconf automake pkg-config make g++ libmilter-dev libssl-dev libinih-dev
check miltertest mandoc postfix postfix-pcre postfix-lmdb libsasl2-modules
swaks python3 openssl clang-14 libclang-rt-14-dev libfuzzer-14-dev
python3-prometheus-client libcurl4-openssl-dev nlohmann-json3-dev libsasl2-dev libpq-dev
postgresql m4 libwrap0 liblockfile1 util-linux"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# Postfix must not ask questions nor configure the system's own instance:
# the tests run private instances only.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
