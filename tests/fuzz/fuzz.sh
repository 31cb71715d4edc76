#!/bin/sh
# fuzz.sh - build and run the libFuzzer targets of tests/fuzz.
#
# usage: fuzz.sh build|run|smoke SECONDS NAME:SRC[,SRC...] ...
#   build  compile each target NAME from $SRCDIR/NAME.cc plus the listed core
#          sources ($TOP_SRCDIR/src/SRC) into $BUILDDIR/fuzz-bin/NAME (each
#          source compiled once into $BUILDDIR/fuzz-obj/, shared by targets)
#   run    build, then run each target for SECONDS (-max_total_time) on a
#          writable copy of its seed corpus ($BUILDDIR/fuzz-corpus/NAME),
#          with $SRCDIR/NAME.dict as dictionary when it exists;
#          a crash leaves its input in $BUILDDIR/fuzz-artifacts/NAME/ and
#          makes the script fail
#   smoke  like run, but prints SKIP and succeeds when $FUZZ_CXX cannot
#          build libFuzzer targets (make check)
# run and smoke fuzz FUZZ_JOBS targets at once (default: the number of CPUs).
# Environment: FUZZ_CXX (default clang++-14), FUZZ_LIBS (extra link
# arguments), FUZZ_MAX_LEN (default 17000: above kMaxHeaderValue),
# FUZZ_SEED (libFuzzer -seed; smoke default 1, run default random), SRCDIR,
# TOP_SRCDIR, BUILDDIR. The compiler is chosen here, never by configure, so
# the fuzz build works whatever CXX the rest of the tree uses.
set -eu

[ $# -ge 2 ] || { echo "usage: $0 build|run|smoke SECONDS NAME:SRC[,SRC...] ..." >&2; exit 2; }
mode=$1 secs=$2
shift 2
FUZZ_CXX=${FUZZ_CXX:-clang++-14}
FUZZ_LIBS=${FUZZ_LIBS:-}
FUZZ_MAX_LEN=${FUZZ_MAX_LEN:-17000}
# smoke: a fixed seed, so that make check is reproducible (a slower machine
# runs a prefix of the same inputs); run: libFuzzer's random seed.
[ "$mode" = smoke ] && FUZZ_SEED=${FUZZ_SEED:-1}
FUZZ_SEED=${FUZZ_SEED:-}
SRCDIR=${SRCDIR:-.}
TOP_SRCDIR=${TOP_SRCDIR:-../..}
BUILDDIR=${BUILDDIR:-.}
FLAGS="-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
 -fno-sanitize-recover=undefined -Wall -Wextra -I$TOP_SRCDIR/src"

# can_build: true when FUZZ_CXX links a trivial libFuzzer target.
can_build() {
    command -v "$FUZZ_CXX" >/dev/null 2>&1 || return 1
    mkdir -p "$BUILDDIR/fuzz-bin"
    probe="$BUILDDIR/fuzz-bin/probe"
    printf '%s\n' '#include <cstddef>' '#include <cstdint>' \
        'extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }' >"$probe.cc"
    # shellcheck disable=SC2086
    "$FUZZ_CXX" $FLAGS -o "$probe" "$probe.cc" >/dev/null 2>&1
    rc=$?
    rm -f "$probe" "$probe.cc"
    return $rc
}

# object SRC: compile SRC once into $BUILDDIR/fuzz-obj/ (again only when
# SRC, a core header or fuzz_common.hpp is newer) and print the object's path. Core sources
# are shared by several targets: compiling each once keeps the fuzz smoke
# of make check cheap.
object() {
    o="$BUILDDIR/fuzz-obj/$(basename "$(dirname "$1")")_$(basename "$1" | sed 's/\.[a-z]*$//').o"
    # shellcheck disable=SC2086
    if [ ! -f "$o" ] || [ -n "$(find "$1" "$TOP_SRCDIR"/src/core/*.hpp "$SRCDIR"/*.hpp -newer "$o" 2>/dev/null)" ]; then
        "$FUZZ_CXX" $FLAGS -c -o "$o" "$1" >&2 || return 1
    fi
    echo "$o"
}

# build_one NAME SRCLIST: (re)link one target from its objects.
build_one() {
    name=$1
    mkdir -p "$BUILDDIR/fuzz-bin" "$BUILDDIR/fuzz-obj"
    objs=$(object "$SRCDIR/$name.cc") || return 1
    # An entry with a '*' (core/*.cpp) is expanded below $TOP_SRCDIR/src, so
    # a target that needs the whole core keeps linking when files are added.
    srcs=""
    for s in $(echo "$2" | tr ',' ' '); do
        case "$s" in
        *'*'*) srcs="$srcs $(cd "$TOP_SRCDIR/src" && echo $s)" ;;
        *) srcs="$srcs $s" ;;
        esac
    done
    for s in $srcs; do
        o=$(object "$TOP_SRCDIR/src/$s") || return 1
        objs="$objs $o"
    done
    out="$BUILDDIR/fuzz-bin/$name"
    # shellcheck disable=SC2086
    if [ -x "$out" ] && [ -z "$(find $objs -newer "$out" 2>/dev/null)" ]; then
        return 0
    fi
    echo "  FUZZLD   $name"
    # shellcheck disable=SC2086
    "$FUZZ_CXX" $FLAGS -o "$out" $objs $FUZZ_LIBS
}

# run_one NAME SECONDS: fuzz one target on a writable copy of its corpus.
run_one() {
    name=$1
    corpus="$BUILDDIR/fuzz-corpus/$name"
    artifacts="$BUILDDIR/fuzz-artifacts/$name"
    log="$BUILDDIR/fuzz-artifacts/$name.log"
    mkdir -p "$corpus" "$artifacts"
    if [ -d "$SRCDIR/corpus/$name" ]; then
        cp "$SRCDIR/corpus/$name"/* "$corpus"/ 2>/dev/null || true
        chmod -R u+w "$corpus"
    fi
    dict=""
    [ -f "$SRCDIR/$name.dict" ] && dict="-dict=$SRCDIR/$name.dict"
    echo "  FUZZ     $name for ${2}s (corpus $(ls "$corpus" | wc -l) files, log $log)"
    seed=""
    [ -n "$FUZZ_SEED" ] && seed="-seed=$FUZZ_SEED"
    # shellcheck disable=SC2086
    if "$BUILDDIR/fuzz-bin/$name" $dict $seed -max_total_time="$2" -max_len="$FUZZ_MAX_LEN" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | sed 's/^/           /'
        echo "           corpus now $(ls "$corpus" | wc -l) files"
        return 0
    fi
    echo "FAIL: $name found a problem; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    ls -l "$artifacts" >&2
    return 1
}

if [ "$mode" = smoke ] && ! can_build; then
    if command -v "$FUZZ_CXX" >/dev/null 2>&1; then
        echo "SKIP: fuzz smoke ($FUZZ_CXX cannot link -fsanitize=fuzzer: Debian package libclang-rt-14-dev)"
    else
        echo "SKIP: fuzz smoke ($FUZZ_CXX not installed)"
    fi
    exit 0
fi
for t in "$@"; do build_one "${t%%:*}" "${t#*:}"; done
[ "$mode" = build ] && exit 0
# Run FUZZ_JOBS targets at a time (default: the number of CPUs), each
# with its own output file printed when it ends, so reports do not mix.
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
mkdir -p "$BUILDDIR/fuzz-artifacts"
status=0
set -- $(for t in "$@"; do echo "${t%%:*}"; done)
while [ $# -gt 0 ]; do
    batch=""
    while [ $# -gt 0 ] && [ "$(echo $batch | wc -w)" -lt "$jobs" ]; do
        batch="$batch $1"
        shift
    done
    for name in $batch; do
        ( run_one "$name" "$secs" >"$BUILDDIR/fuzz-artifacts/$name.out" 2>&1 ) &
        eval "pid_$name=\$!"
    done
    for name in $batch; do
        eval "wait \$pid_$name" || status=1
        cat "$BUILDDIR/fuzz-artifacts/$name.out"
    done
done
exit $status
