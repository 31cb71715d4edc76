#!/bin/sh
# install-deps.sh - install the Debian 12 packages partner-relay-milter
# needs, only those that are missing. Needs root (or sudo) and Debian's
# package archive; safe to run again.
#
#   sh contrib/install-deps.sh            everything: build, tests, demo
#                                         (contrib/run.sh runs this)
#   sh contrib/install-deps.sh --runtime  only what the installed programs
#                                         need on the mail server: the
#                                         libraries they link, Cyrus SASL's
#                                         PLAIN/LOGIN modules and Postfix
#                                         with the table types the recipe
#                                         uses. No compiler, no test tools.
#   sh contrib/install-deps.sh --list [--runtime]
#                                         print the package names, install
#                                         nothing
set -eu

# The libraries the programs link (libmilter, OpenSSL, inih, libcurl,
# libpq, Cyrus SASL), the SASL mechanisms Postfix's SMTP client offers the
# partner relays, and Postfix with its pcre and lmdb table types.
RUNTIME_PKGS="libmilter1.0.1 libssl3 libinih1 libcurl4 libpq5 libsasl2-2
libsasl2-modules postfix postfix-pcre postfix-lmdb"

# The build toolchain and everything the test suite and the demo run.
BUILD_PKGS="autoconf automake pkg-config make g++ libmilter-dev libssl-dev libinih-dev
check miltertest mandoc postfix postfix-pcre postfix-lmdb libsasl2-modules
swaks python3 openssl clang-14 libclang-rt-14-dev libfuzzer-14-dev
python3-prometheus-client libcurl4-openssl-dev nlohmann-json3-dev libsasl2-dev libpq-dev
postgresql m4 libwrap0 liblockfile1 util-linux iproute2"

mode=all list=no
for arg in "$@"; do
    case "$arg" in
    --runtime) mode=runtime ;;
    --list) list=yes ;;
    *) echo "usage: sh contrib/install-deps.sh [--runtime] [--list]" >&2; exit 2 ;;
    esac
done
if [ "$mode" = runtime ]; then PKGS=$RUNTIME_PKGS; else PKGS="$RUNTIME_PKGS $BUILD_PKGS"; fi
if [ "$list" = yes ]; then
    printf '%s\n' $PKGS | sort -u
    exit 0
fi

missing=""
for p in $PKGS; do
    case " $missing " in *" $p "*) continue ;; esac
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# A Postfix installed here must not ask questions nor configure the system's
# own instance (the tests run private instances only; README "Installing"
# starts from this "No configuration" state). Only when Postfix is being
# installed: an existing Postfix's debconf answers are left alone.
case " $missing " in
*" postfix "*)
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections ;;
esac
# A PostgreSQL installed here must not create and start a default cluster:
# the sync tests run a private server in their own directory
# (postgresql-common reads this before it creates "main").
case " $missing " in
*" postgresql "*)
    $SUDO mkdir -p /etc/postgresql-common
    if ! grep -qs '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf; then
        echo "create_main_cluster = false" |
            $SUDO tee -a /etc/postgresql-common/createcluster.conf >/dev/null
    fi ;;
esac
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
