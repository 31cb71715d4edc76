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
    # Every step runs even when an earlier one failed, so the closing line
    # counts every test; the exit status is non-zero on any failure.
    rc=0 st=1 sst=1
    if build build; then
        make -k -C build -j"$jobs" check && st=0
    fi
    echo "== sanitizer build (ASan+UBSan): unit and protocol tests"
    # -O1 as the sanitizers' documentation advises (configure's default
    # -O2 would win over AM_CXXFLAGS): it also compiles faster.
    if build build-san --enable-sanitizers --disable-integration CXXFLAGS="-g -O1"; then
        make -k -C build-san -j"$jobs" check FUZZ_SMOKE=no && sst=0
    fi
    [ $st -eq 0 ] && [ $sst -eq 0 ] || rc=1
    echo "== make distcheck"
    dist=fail
    # distcheck proves the tarball builds, tests, installs and cleans up;
    # -O0 halves its compile time (the optimized code is tested above).
    [ -f build/Makefile ] && make -C build -j"$jobs" distcheck FUZZ_SMOKE=no \
        DISTCHECK_CONFIGURE_FLAGS="CXXFLAGS=-O0" && dist=pass
    [ $dist = pass ] || rc=1
    echo "== results"
    python3 tests/summarize.py build=$st build-san=$sst --extra "distcheck=$dist" || rc=1
    exit $rc
    ;;
*)
    echo "usage: sh contrib/run.sh demo|check" >&2
    exit 2
    ;;
esac
