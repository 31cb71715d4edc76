#!/bin/sh
# demo.sh - run the partner-relay-milter demo against a build tree.
#
#   sh contrib/demo/demo.sh BUILD_DIR      (contrib/run.sh demo does this)
#
# BUILD_DIR is the build tree holding src/partner-relay-milter,
# src/partner-relay-tables, src/partner-relay-tokend and the XOAUTH2 plugin
# src/libprmxoauth2.so (relative to the source tree or absolute). Needs
# root and Postfix (contrib/install-deps.sh). The demo itself is demo.py:
# a private Postfix, fake relays and the milter on 127.0.0.1, one message
# per category per sample partner, a table of where each landed. Exit
# status: 0 all as expected, 1 not, 2 usage, 77 cannot run here.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

if [ $# -ne 1 ]; then
    echo "usage: sh contrib/demo/demo.sh BUILD_DIR" >&2
    exit 2
fi
case "$1" in
/*) build=$1 ;;
*) build=$top/$1 ;;
esac
for prog in partner-relay-milter partner-relay-tables partner-relay-tokend libprmxoauth2.so; do
    if [ ! -f "$build/src/$prog" ]; then
        echo "demo: $build/src/$prog is missing: build first (sh contrib/run.sh demo)" >&2
        exit 2
    fi
done
if [ "$(id -u)" -ne 0 ]; then
    echo "demo: must run as root (it starts a private Postfix instance)" >&2
    exit 77
fi
PRM_BUILDDIR=$build
export PRM_BUILDDIR
# exec: Ctrl-C and SIGTERM reach demo.py directly, which stops what it started.
exec /usr/bin/python3 "$here/demo.py"
