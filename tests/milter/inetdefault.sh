#!/bin/sh
# inetdefault.sh - issue 17 finding 6: an inet socket without a host
# (socket = inet:PORT in the main config, or -p inet:PORT) listens on
# 127.0.0.1 only, not on every address as libmilter would bind it, and
# partner-relay-tables prints the milter line for that same address.
# Needs ss (iproute2), else exit 77. TAP output.
#
# Environment: PRM_MILTER (the binary; the tables tool is beside it), PYTHON3.
set -u
M=${PRM_MILTER:-../../src/partner-relay-milter}
T=$(dirname "$M")/partner-relay-tables
command -v ss > /dev/null || { echo "SKIP: inetdefault.sh: ss (iproute2) not installed"; exit 77; }
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
d=$(mktemp -d "${TMPDIR:-/tmp}/prm-inet.XXXXXX") || exit 1
dpid=""
cleanup() { [ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT
port=$("${PYTHON3:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
: > "$d/partners.conf"; chmod 600 "$d/partners.conf"
printf '[milter]\nfallback_sender = noreply@platform.example\npartners = %s/partners.conf\nsocket = inet:%s\n' "$d" "$port" > "$d/m.conf"

"$T" -c "$d/m.conf" -o "$d/out" --no-postmap > "$d/tables.log" 2>&1
if grep -qF "inet:127.0.0.1:$port" "$d/tables.log"; then ok "tables prints inet:127.0.0.1:$port"
else notok "tables does not print inet:127.0.0.1:$port"; sed 's/^/#   /' "$d/tables.log"; fi

"$M" -c "$d/m.conf" -f -R > "$d/daemon.log" 2>&1 &
dpid=$!
i=0; while ! grep -q "NOQUEUE: starting" "$d/daemon.log" && kill -0 "$dpid" 2>/dev/null && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.1; done
got=$(ss -Hltn "sport = :$port" | awk '{print $4}' | sort | tr '\n' ' ')
if [ "$got" = "127.0.0.1:$port " ]; then ok "the daemon listens on 127.0.0.1:$port only"
else notok "the daemon listens on '$got', want '127.0.0.1:$port '"; sed 's/^/#   /' "$d/daemon.log"; fi
kill -TERM "$dpid"; i=0; while kill -0 "$dpid" 2>/dev/null && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done
wait "$dpid" 2>/dev/null; dpid=""
echo "1..$n"
[ $failed -eq 0 ]
