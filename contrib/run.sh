#!/bin/sh
# run.sh - the README's two commands.
#   sh contrib/run.sh demo    install what is missing, build, run the demo
#   sh contrib/run.sh check   install what is missing, build, run every test
# Builds out of tree in build/ (normal) and build-san/ (ASan+UBSan).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
what=${1:-check}
jobs=$(nproc 2>/dev/null || echo 2)

sh contrib/install-deps.sh
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi

build() {  # build DIR CONFIGURE-ARGS...
    dir=$1; shift
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ]; then
        (cd "$dir" && "$top/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var --runstatedir=/run "$@")
    fi
    make -C "$dir" -j"$jobs"
}

case "$what" in
demo)
    build build
    exec sh contrib/demo/demo.sh build
    ;;
check)
    build build
    make -C build -j"$jobs" check
    echo "== sanitizer build (ASan+UBSan): unit and protocol tests"
    build build-san --enable-sanitizers --disable-integration
    make -C build-san -j"$jobs" check FUZZ_SMOKE=no
    echo "== make distcheck"
    make -C build -j"$jobs" distcheck FUZZ_SMOKE=no
    ;;
*)
    echo "usage: sh contrib/run.sh demo|check" >&2
    exit 2
    ;;
esac
