#!/bin/sh
# harness.sh - run one protocol test against the real daemon.
#
# Usage (Automake LOG_COMPILER): harness.sh TEST.lua|TEST.py
# Environment: PRM_MILTER (the daemon binary), MILTERTEST, PYTHON3, srcdir.
#
# Starts partner-relay-milter -f on a UNIX socket in a fresh temporary
# directory with the test configuration (test.conf.in, partners.conf.in),
# runs the test (Lua with miltertest, Python with python3; both get the
# socket, the directory and the daemon's pid), stops the daemon with SIGTERM
# and requires a clean exit (status 0 within 30 s). Then it fails the test
# if any output (daemon log, test output, stats file) contains a partner
# password, or a sanitizer report. Exit status: 0 pass, 1 fail, 77 skip.
set -u

test=$1
name=$(basename "$test")
srcdir=${srcdir:-$(dirname "$0")}
: "${PRM_MILTER:=../../src/partner-relay-milter}"
: "${PYTHON3:=python3}"
: "${MILTERTEST:=miltertest}"

case $name in
*.lua) command -v "$MILTERTEST" >/dev/null 2>&1 || { echo "SKIP: $name: miltertest not installed"; exit 77; } ;;
esac

dir=$(mktemp -d "${TMPDIR:-/tmp}/prm-milter.XXXXXX") || exit 1
pid=""
cleanup() {
    # Never leave a daemon behind, whatever happened.
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "FAIL: $name: $*"
    echo "--- daemon log (last 60 lines)"; tail -n 60 "$dir/daemon.log" 2>/dev/null
    exit 1
}

sed "s|@DIR@|$dir|g" "$srcdir/test.conf.in" > "$dir/test.conf"
sed "s|@DIR@|$dir|g" "$srcdir/partners.conf.in" > "$dir/partners.conf"
chmod 600 "$dir/partners.conf"
sock="$dir/milter.sock"

# Start the daemon in the foreground (log to stderr), as root allowed (-R).
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
"$PRM_MILTER" -f -R -d 20 -c "$dir/test.conf" -p "local:$sock" > "$dir/daemon.log" 2>&1 &
pid=$!

# Wait (bounded) for the socket.
i=0
while [ ! -S "$sock" ]; do
    kill -0 "$pid" 2>/dev/null || fail "daemon exited at start"
    i=$((i + 1)); [ $i -gt 200 ] && fail "no socket after 20 s"
    sleep 0.1
done

case $name in
*.lua) "$MILTERTEST" -s "$test" -D "socket=local:$sock" -D "dir=$dir" -D "srcdir=$srcdir" > "$dir/test.out" 2>&1 ;;
*.py)  PRM_DIR=$dir PRM_SOCKET=$sock PRM_PID=$pid PRM_CONF=$dir/test.conf \
       PYTHONPATH="$srcdir/../lib${PYTHONPATH:+:$PYTHONPATH}" \
       "$PYTHON3" "$test" > "$dir/test.out" 2>&1 ;;
*) fail "unknown test type" ;;
esac
rc=$?
cat "$dir/test.out"
[ $rc -eq 0 ] || fail "test exited with status $rc"

# Stop: SIGTERM must end the daemon cleanly within 30 s.
kill -TERM "$pid" 2>/dev/null
i=0
while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 300 ] && fail "daemon still running 30 s after SIGTERM"
    sleep 0.1
done
wait "$pid"; drc=$?
pid=""
[ $drc -eq 0 ] || fail "daemon exit status $drc after SIGTERM, want 0"
grep -q "NOQUEUE: stopped" "$dir/daemon.log" || fail "no 'stopped' line in the daemon log"

# Nothing secret, ever; no sanitizer report.
if grep -l "S3cret-Canary" "$dir/daemon.log" "$dir/test.out" "$dir/stats.prom" 2>/dev/null; then
    fail "a partner password appears in the output above"
fi
if grep -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$dir/daemon.log"; then
    fail "sanitizer report"
fi
echo "--- daemon log"; cat "$dir/daemon.log"
echo "PASS: $name"
exit 0
