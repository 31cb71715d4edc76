# daemon.sh - sourced by the tests/milter shell tests that run the milter
# as a daemon (cli.sh, reach.sh).
#
# Contract: the caller sets M (the binary) and pids (every pid it must
# stop); start_daemon LOG ARGS... starts "$M ARGS" in the background with
# its output in LOG, adds its pid to $pids, sets dpid, and returns 0 once
# LOG shows the start line ("NOQUEUE: starting"), 1 if the daemon exits or
# 20 s pass. stop_daemon PID: SIGTERM, then a bounded wait (30 s; 99 when it
# does not end); returns the daemon's exit status.

start_daemon() {
    log=$1; shift
    "$M" "$@" > "$log" 2>&1 &
    dpid=$!; pids="$pids $dpid"
    i=0
    while ! grep -q "NOQUEUE: starting" "$log"; do
        kill -0 "$dpid" 2>/dev/null || return 1
        i=$((i + 1)); [ $i -gt 200 ] && return 1
        sleep 0.1
    done
}

stop_daemon() {
    kill -TERM "$1"; i=0
    while kill -0 "$1" 2>/dev/null; do i=$((i + 1)); [ $i -gt 300 ] && return 99; sleep 0.1; done
    wait "$1"
}
