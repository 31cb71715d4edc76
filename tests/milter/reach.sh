#!/bin/sh
# reach.sh - issue 14: a milter socket Postfix could not connect to is
# reported (-n on stderr, the daemon in its log), a good one is not; -n -q
# (the systemd unit's ExecStartPre) prints errors only; the pid file
# written as root goes around a planted symlink (issue 14, part D).
# Rows:
#  - a 0600 socket under a 0700 directory: -n names both; the daemon that
#    made that socket logs both;
#  - README step 2 (0666 socket, directory 0750 group postfix): no warning
#    from -n or the daemon;
#  - -m overrides socket_mode in -n as in the daemon;
#  - postfix_user that does not exist: said once; empty: no check;
#  - the pid file's name is a symlink to a file: after the start that file
#    is unchanged and the pid file names the supervisor.
# Needs root (the socket directory's group postfix, -R) and the postfix
# user, else exit 77. TAP output; about 3 s.
#
# Environment: PRM_MILTER (the binary), srcdir, PYTHON3.
set -u
M=${PRM_MILTER:-../../src/partner-relay-milter}
[ -x "$M" ] || { echo "not ok 1 - no milter binary at $M"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: reach.sh: not root (group postfix on a directory, -R)"; exit 77; }
id postfix > /dev/null 2>&1 || { echo "SKIP: reach.sh: no postfix user (Debian package postfix)"; exit 77; }
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
contains() { if grep -qF -- "$3" "$2"; then ok "$1"; else notok "$1: '$3' not in output:"; sed 's/^/#   /' "$2"; fi; }
lacks() { if grep -qF -- "$3" "$2"; then notok "$1: '$3' found:"; sed 's/^/#   /' "$2"; else ok "$1"; fi; }
count() { c=$(grep -cF -- "$3" "$2"); if [ "$c" = "$4" ]; then ok "$1"; else notok "$1: '$3' $c times, want $4:"; sed 's/^/#   /' "$2"; fi; }

d=$(mktemp -d "${TMPDIR:-/tmp}/prm-reach.XXXXXX") || exit 1
pids=""
cleanup() { rm -rf "$d"; }
trap 'cleanup' EXIT
# Every directory above the sockets must let postfix search: mktemp's 0700
# would stop it at $d itself.
chmod 0711 "$d"
mkdir -m 0700 "$d/private"
mkdir -m 0750 "$d/step2"; chgrp postfix "$d/step2"
# One inactive partner (no password), nothing else.
printf '[globex]\nhost = relay.globex.example\nport = 587\nusername = g\nsender = n@globex.example\n' > "$d/partners.conf"
chmod 600 "$d/partners.conf"
conf() {  # conf NAME SOCKET MODE [EXTRA]: write $d/NAME.conf
    printf '[milter]\nfallback_sender = noreply@platform.example\npartners = %s/partners.conf\ntables_dir =\nsocket = local:%s\nsocket_mode = %s\n%b' \
        "$d" "$2" "$3" "${4:-}" > "$d/$1.conf"
}
conf bad "$d/private/m.sock" 0600
conf good "$d/step2/m.sock" 0666
conf nouser "$d/private/m.sock" 0600 'postfix_user = no-such-user-prm\n'
conf nocheck "$d/private/m.sock" 0600 'postfix_user =\n'
out=$d/out

# --- -n -----------------------------------------------------------------------
"$M" -c "$d/bad.conf" -n > "$out" 2>&1
[ $? = 0 ] && ok "-n bad socket: exit 0 (a warning)" || notok "-n bad socket: exit $?"
contains "-n: the 0700 directory" "$out" "Postfix cannot connect to the milter: user postfix (uid $(id -u postfix), gid $(id -g postfix)) cannot search directory $d/private (mode 0700"
contains "-n: the 0600 socket" "$out" "cannot write to socket $d/private/m.sock (mode 0600"
"$M" -c "$d/good.conf" -n > "$out" 2>&1
lacks "-n README layout: no warning" "$out" "Postfix cannot connect"
# -m as the unit gives it: 0666 judged, not socket_mode 0660.
conf step2-0660 "$d/step2/m.sock" 0660
"$M" -c "$d/step2-0660.conf" -n > "$out" 2>&1
contains "-n socket_mode 0660 under step 2: reported" "$out" "cannot write to socket $d/step2/m.sock (mode 0660"
"$M" -c "$d/step2-0660.conf" -n -m 0666 > "$out" 2>&1
lacks "-n -m 0666 overrides socket_mode 0660" "$out" "Postfix cannot connect"
"$M" -c "$d/nouser.conf" -n > "$out" 2>&1
count "-n unknown postfix_user: said once" "$out" "postfix_user no-such-user-prm does not exist" 1
lacks "-n unknown postfix_user: nothing else judged" "$out" "Postfix cannot connect"
"$M" -c "$d/nocheck.conf" -n > "$out" 2>&1
lacks "-n postfix_user empty: no check" "$out" "Postfix cannot connect"
# -q (the unit's ExecStartPre): nothing but errors; the daemon logs the rest.
"$M" -c "$d/good.conf" -n > "$out" 2>&1
contains "-n: inactive partner status" "$out" "globex: inactive: missing password"
"$M" -c "$d/bad.conf" -n -q > "$out" 2>&1
[ $? = 0 ] && [ ! -s "$out" ] && ok "-n -q: silent, exit 0" || { notok "-n -q printed:"; sed 's/^/#   /' "$out"; }
"$M" -n -q -c "$d/missing.conf" > "$out" 2>&1
[ $? = 1 ] && [ -s "$out" ] && ok "-n -q: errors still printed, exit 1" || notok "-n -q on a missing config"
"$M" -q -c "$d/good.conf" > "$out" 2>&1
[ $? = 2 ] && ok "-q without -n: usage error" || notok "-q without -n: exit $?"

# --- the daemon ---------------------------------------------------------------
# Both daemons run at once: a stop costs libmilter's poll interval (~4 s).
pids=""
cleanup() { for p in $pids; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$d"; }
. "${srcdir:-$(dirname "$0")}/daemon.sh"  # start_daemon LOG ARGS...
if start_daemon "$d/bad.log" -c "$d/bad.conf" -f -R; then
    contains "daemon: logs the 0700 directory" "$d/bad.log" "$d/bad.conf: [milter] socket: Postfix cannot connect to the milter: user postfix"
    contains "daemon: logs the 0600 socket it made" "$d/bad.log" "cannot write to socket $d/private/m.sock (mode 0600, owner 0:0)"
else
    notok "daemon starts on the bad socket"; sed 's/^/#   /' "$d/bad.log"
fi
# README step 2 with a pid file whose name is a planted symlink.
printf 'precious\n' > "$d/victim"
ln -s "$d/victim" "$d/step2/milter.pid"
conf goodpid "$d/step2/m.sock" 0666 "pidfile = $d/step2/milter.pid\n"
if start_daemon "$d/good.log" -c "$d/goodpid.conf" -f -R; then
    lacks "daemon: README layout, no warning" "$d/good.log" "Postfix cannot connect"
    [ "$(cat "$d/victim")" = precious ] && ok "pid file: the symlink's target untouched" || notok "pid file: the symlink's target was written: $(cat "$d/victim")"
    [ ! -L "$d/step2/milter.pid" ] && [ "$(cat "$d/step2/milter.pid")" = "$dpid" ] \
        && ok "pid file: a fresh file naming the supervisor" || notok "pid file: $(ls -l "$d/step2/milter.pid")"
else
    notok "daemon starts on the README layout"; sed 's/^/#   /' "$d/good.log"
fi
# Stop both (bounded wait), by pid.
for p in $pids; do kill -TERM "$p" 2>/dev/null; done
for p in $pids; do
    i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done
    wait "$p" 2>/dev/null
done
pids=""
echo "1..$n"
[ $failed -eq 0 ]
