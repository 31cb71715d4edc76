#!/bin/sh
# cli.sh - the command line of partner-relay-milter(8): -V, usage errors,
# -n on good and broken configurations (exit status, file:line: [section]
# key: message), -t on every sample message in contrib/examples/messages,
# and the start-up checks (root refusal, socket safety and mode, privilege
# drop, core dumps, partner table permissions, pid file). TAP output; exit 1 when a check failed.
#
# Environment: PRM_MILTER (the binary), srcdir (this directory), top_srcdir.
set -u
srcdir=${srcdir:-$(dirname "$0")}
top_srcdir=${top_srcdir:-$srcdir/../..}
M=${PRM_MILTER:-../../src/partner-relay-milter}
samples=$top_srcdir/contrib/examples/messages

n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# check WHAT GOT WANT
check() { if [ "$2" = "$3" ]; then ok "$1"; else notok "$1: got '$2', want '$3'"; fi; }
# contains WHAT FILE TEXT
contains() { if grep -qF -- "$3" "$2"; then ok "$1"; else notok "$1: '$3' not in output:"; sed 's/^/#   /' "$2"; fi; }
lacks() { if grep -qF -- "$3" "$2"; then notok "$1: '$3' found"; else ok "$1"; fi; }

d=$(mktemp -d "${TMPDIR:-/tmp}/prm-cli.XXXXXX") || exit 1
pids=""
cleanup() { for p in $pids; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$d"; }
trap cleanup EXIT
sed "s|@DIR@|$d|g" "$srcdir/test.conf.in" > "$d/test.conf"
sed "s|@DIR@|$d|g" "$srcdir/partners.conf.in" > "$d/partners.conf"
chmod 600 "$d/partners.conf"
out=$d/out

# --- -V and usage -----------------------------------------------------------
"$M" -V > "$out" 2>&1; check "-V exits 0" $? 0
contains "-V names the program and libmilter" "$out" "partner-relay-milter "
"$M" -x > "$out" 2>&1; check "unknown option exits 2" $? 2
contains "unknown option prints the usage" "$out" "usage: partner-relay-milter"
"$M" -n -t x > "$out" 2>&1; check "-n with -t exits 2" $? 2

# --- -n -------------------------------------------------------------------------
"$M" -c "$d/test.conf" -n > "$out" 2>&1; check "-n on the test config exits 0" $? 0
contains "-n: active partner" "$out" "acme: active"
contains "-n: implicit-TLS partner active" "$out" "initech: active"
contains "-n: inactive partner with its reason" "$out" "globex: inactive: missing password"
contains "-n: inactive partner warning names file:line" "$out" "$d/partners.conf:20:"
lacks "-n never prints a password" "$out" "S3cret-Canary"

# broken CASE-NAME EXPECTED-TEXT: run -n on $d/CASE-NAME.conf
broken() {
    "$M" -c "$d/$1.conf" -n > "$out" 2>&1
    check "-n $1: exit status 1" $? 1
    contains "-n $1: message" "$out" "$2"
}
printf '[milter]\nfallback_sender = noreply@platform.example\npartners = %s\nno_such_key = 1\n' "$d/partners.conf" > "$d/unknown-key.conf"
broken unknown-key "$d/unknown-key.conf:4: [milter] no_such_key:"
printf '[milter]\nfallback_sender = noreply@platform.example\npartners = %s\ntrusted_networks = 10.0.0.0/99\n' "$d/partners.conf" > "$d/bad-network.conf"
broken bad-network "$d/bad-network.conf:4: [milter] trusted_networks:"
printf '[milter]\npartners = %s\n' "$d/partners.conf" > "$d/no-fallback-sender.conf"
broken no-fallback-sender "[milter] fallback_sender:"
printf '[milter]\nfallback_sender = noreply@platform.example\npartners = %s/missing.conf\n' "$d" > "$d/missing-partner-table.conf"
broken missing-partner-table "$d/missing.conf:"
"$M" -c "$d/nonexistent.conf" -n > "$out" 2>&1; check "-n on a missing config: exit 1" $? 1
contains "-n on a missing config names it" "$out" "$d/nonexistent.conf"
# A broken partner only deactivates that partner: exit 0.
printf '[acme]\nhost = 127.0.0.1\nport = 99999\nusername = u\npassword = S3cret-Canary-x\nsender = a@acme.example\n' > "$d/bad-partner.conf"
chmod 600 "$d/bad-partner.conf"
printf '[milter]\nfallback_sender = noreply@platform.example\npartners = %s/bad-partner.conf\ntables_dir =\n' "$d" > "$d/bp.conf"
"$M" -c "$d/bp.conf" -n > "$out" 2>&1; check "-n with a broken partner: exit 0" $? 0
contains "-n broken partner: inactive with the port reason" "$out" "acme: inactive: port"
contains "-n broken partner: file:line: key" "$out" "$d/bad-partner.conf:3: [acme] port:"
lacks "-n broken partner: no password" "$out" "S3cret-Canary"

# --- the partner table's permissions (issue 7: secrets) ----------------------
# 0644 (others can read the passwords): refused with path and mode, unless
# partners_permissions = warn; group-readable only warns.
cp "$d/partners.conf" "$d/open-partners.conf"; chmod 644 "$d/open-partners.conf"
printf '[milter]\nfallback_sender = noreply@platform.example\npartners = %s/open-partners.conf\ntables_dir =\n' "$d" > "$d/open.conf"
"$M" -c "$d/open.conf" -n > "$out" 2>&1; check "-n on a 0644 partner table: exit 1" $? 1
contains "-n 0644 table: names path and mode" "$out" "partner table $d/open-partners.conf (mode 0644"
lacks "-n 0644 table: no password" "$out" "S3cret-Canary"
printf 'partners_permissions = warn\n' >> "$d/open.conf"
"$M" -c "$d/open.conf" -n > "$out" 2>&1; check "-n 0644 table with partners_permissions = warn: exit 0" $? 0
contains "-n 0644 table with warn: a warning" "$out" "warning: $d/open-partners.conf: partner table"
chmod 640 "$d/open-partners.conf"
sed '/partners_permissions/d' "$d/open.conf" > "$d/group.conf"
"$M" -c "$d/group.conf" -n > "$out" 2>&1; check "-n on a 0640 partner table: exit 0" $? 0
contains "-n 0640 table: warns with the mode" "$out" "(mode 0640)"
T=${PRM_TABLES:-$(dirname "$M")/partner-relay-tables}
if [ -x "$T" ]; then
    chmod 604 "$d/open-partners.conf"
    "$T" -c "$d/group.conf" --check > "$out" 2>&1; check "tables --check on a 0604 table: exit 78 (EX_CONFIG)" $? 78
    contains "tables --check 0604: names path and mode" "$out" "partner table $d/open-partners.conf (mode 0604"
    lacks "tables --check 0604: no password" "$out" "S3cret-Canary"
fi
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
    chmod 600 "$d/open-partners.conf"; chown nobody "$d/open-partners.conf"
    "$M" -c "$d/group.conf" -n > "$out" 2>&1; check "-n on a table owned by a stranger: exit 1" $? 1
    contains "-n stranger's table: says so" "$out" "is owned by neither root nor the milter's user"
    printf 'user = nobody\n' >> "$d/group.conf"
    "$M" -c "$d/group.conf" -n > "$out" 2>&1; check "-n on a table owned by the milter's user: exit 0" $? 0
fi

# --- -t on the samples ------------------------------------------------------
if [ -d "$samples" ]; then
    for f in "$samples"/*.eml; do
        cat=$(basename "$f" .eml)
        "$M" -c "$d/test.conf" -t "$f" > "$out" 2>&1
        check "-t $cat: exit 0" $? 0
        case $cat in
        account-security)
            contains "-t $cat: global, category not eligible" "$out" \
                "NOQUEUE: category=account-security partner=acme route=global reason=category-not-eligible" ;;
        unclassified)
            contains "-t $cat: unclassified, global" "$out" "category=unclassified partner=acme route=global" ;;
        forged)
            contains "-t forged: global, conflicting partner headers" "$out" "route=global reason=conflicting-partner-headers"
            contains "-t forged: route headers deleted" "$out" "delete X-Partner-Relay-Route[1]"
            lacks "-t forged: no route header added" "$out" "add X-Partner-Relay-Route" ;;
        *)
            contains "-t $cat: partner route" "$out" "NOQUEUE: category=$cat partner=acme route=partner reason=partner-relay"
            contains "-t $cat: tag" "$out" "add X-Email-Category: $cat"
            contains "-t $cat: route header" "$out" "add X-Partner-Relay-Route: partner:[127.0.0.1]:2525"
            contains "-t $cat: From rewritten" "$out" "<news@acme.example>"
            contains "-t $cat: envelope sender" "$out" "envelope-from <news@acme.example>" ;;
        esac
        lacks "-t $cat: no password" "$out" "S3cret-Canary"
    done
else
    ok "# SKIP no samples in $samples"
fi
"$M" -c "$d/test.conf" -t "$samples/aml-alert.eml" --client 192.0.2.9 > "$out" 2>&1
contains "-t --client untrusted: global" "$out" "route=global reason=untrusted-submitter trusted=no"
"$M" -c "$d/test.conf" -t "$samples/aml-alert.eml" --client 192.0.2.9 --auth app > "$out" 2>&1
contains "-t --auth: trusted by SASL login" "$out" "route=partner reason=partner-relay trusted=yes"
"$M" -c "$d/test.conf" -t "$samples/aml-alert.eml" --daemon FALLBACK --from news@acme.example > "$out" 2>&1
contains "-t --daemon FALLBACK: fallback decision" "$out" "reason=fallback"
contains "-t --daemon FALLBACK: sender restored" "$out" "envelope-from <noreply@platform.example>"
"$M" -c "$d/test.conf" -t "$d/no-such.eml" > "$out" 2>&1; check "-t on a missing file: exit 2" $? 2

# --- the shipped examples (contrib/examples) ---------------------------------
# A private copy: the shipped partners.conf is 0644 (read-only in distcheck),
# which the milter rightly refuses for a file holding passwords.
excfg=$d/examples/partner-relay-milter.conf
if [ -f "$top_srcdir/contrib/examples/partner-relay-milter.conf" ]; then
    mkdir -p "$d/examples"
    cp "$top_srcdir/contrib/examples/partner-relay-milter.conf" "$top_srcdir/contrib/examples/partners.conf" "$d/examples/"
    chmod 600 "$d/examples/partners.conf"
    # The stamp of partner-relay-tables in a private directory, never the
    # host's /etc/postfix/partner-relay (the config's default).
    mkdir -p "$d/examples/tables"
    sed -i "s|^\[milter\]\$|[milter]\ntables_dir = $d/examples/tables|" "$excfg"
    "$M" -c "$excfg" -t "$samples/verification-link.eml" > "$out" 2>&1
    contains "-t example before partner-relay-tables: waiting" "$out" "route=global reason=waiting-for-tables"
    "$M" -c "$excfg" -n > "$out" 2>&1
    contains "-n on contrib/examples before partner-relay-tables: waiting" "$out" "acme: active, waiting for partner-relay-tables"
    "$(dirname "$M")/partner-relay-tables" -c "$excfg" -o "$d/examples/tables" --no-postmap > "$out" 2>&1
    check "partner-relay-tables on contrib/examples: exit 0" $? 0
    "$M" -c "$excfg" -n > "$out" 2>&1; check "-n on contrib/examples: exit 0" $? 0
    contains "-n on contrib/examples: acme active" "$out" "acme: active"
    lacks "-n on contrib/examples after partner-relay-tables: none waiting" "$out" "waiting for"
    lacks "-n on contrib/examples: no password" "$out" "example-only-not-a-secret"
    for f in "$samples"/*.eml; do
        "$M" -c "$excfg" -t "$f" > "$out" 2>&1
        check "-t $(basename "$f") with the example config: exit 0" $? 0
        contains "-t $(basename "$f") with the example config: a decision" "$out" "NOQUEUE: category="
        lacks "-t $(basename "$f") with the example config: no password" "$out" "example-only-not-a-secret"
    done
    "$M" -c "$excfg" -t "$samples/verification-link.eml" > "$out" 2>&1
    contains "-t example verification-link: partner route" "$out" "route=partner reason=partner-relay"
    "$M" -c "$excfg" -t "$samples/finance-report.eml" > "$out" 2>&1
    contains "-t example finance-report: acme opted out" "$out" "route=global reason=category-opted-out"
else
    ok "# SKIP no $excfg"
fi

# --- start-up checks --------------------------------------------------------
"$M" -c "$d/test.conf" -f -p "local:$d/root.sock" > "$out" 2>&1
rc=$?
if [ "$(id -u)" = 0 ]; then
    check "root without a user: exit 3" $rc 3
    contains "root without a user: says why" "$out" "refusing to run as root"
fi
: > "$d/plain-file"
"$M" -c "$d/test.conf" -f -R -p "local:$d/plain-file" > "$out" 2>&1
check "socket path is a plain file: exit 3" $? 3
contains "plain file kept and reported" "$out" "exists and is not a socket"
test -f "$d/plain-file" && ok "plain file not removed" || notok "plain file removed"

# A stale socket (nobody listening) is replaced; a live one is refused.
"${PYTHON3:-python3}" -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$d/stale.sock"
test -S "$d/stale.sock" && ok "stale socket prepared" || notok "stale socket not prepared"
. "$srcdir/daemon.sh"  # start_daemon LOG ARGS..., stop_daemon PID
# socket_mode in the configuration; -m overrides it.
printf 'socket_mode = 0640\n' > "$d/mode.add"
sed "/^\[milter\]/r $d/mode.add" "$d/test.conf" > "$d/mode.conf"
if start_daemon "$d/dm.log" -c "$d/mode.conf" -f -R -p "local:$d/mode.sock"; then
    check "socket mode set by socket_mode" "$(stat -c %a "$d/mode.sock")" 640
    stop_daemon "$dpid"; check "daemon (socket_mode) stops with status 0" $? 0
else
    notok "daemon starts with socket_mode = 0640"; cat "$d/dm.log"
fi
if start_daemon "$d/d1.log" -c "$d/mode.conf" -f -R -m 0600 -p "local:$d/stale.sock"; then
    ok "daemon starts over a stale socket"
    check "socket mode set by -m (over socket_mode 0640)" "$(stat -c %a "$d/stale.sock")" 600
    "$M" -c "$d/test.conf" -f -R -p "local:$d/stale.sock" > "$out" 2>&1
    check "second daemon on a live socket: exit 3" $? 3
    contains "live socket reported" "$out" "another process is listening"
    stop_daemon "$dpid"; check "daemon stops with status 0" $? 0
    test -e "$d/stale.sock" && notok "socket left behind" || ok "socket removed at exit"
else
    notok "daemon starts over a stale socket"; cat "$d/d1.log"
fi

# Privilege drop (root only): socket owned by the user, every process runs
# as the user, the pid file names the supervisor.
# milter_child PID: the supervisor PID's libmilter child. The supervisor
# forks it after the socket is open, so wait for it (bounded: 10 s; slow
# under ASan on a loaded machine).
milter_child() {
    _c=""; _tries=0
    while [ -z "$_c" ] && [ $_tries -lt 100 ]; do
        _c=$(cat /proc/"$1"/task/*/children 2>/dev/null | tr -d ' ')
        [ -n "$_c" ] || sleep 0.1
        _tries=$((_tries + 1))
    done
    echo "$_c"
}

if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
    printf 'pidfile = %s/milter.pid\n' "$d" > "$d/pid.add"
    sed "/^\[milter\]/r $d/pid.add" "$d/test.conf" | sed '/^stats_file/d' > "$d/user.conf"
    # Started as root, the socket is created as the user (issue 17): in a
    # directory only root can write, the start fails and says why.
    "$M" -c "$d/user.conf" -f -u nobody -p "local:$d/user.sock" > "$out" 2>&1
    check "-u nobody, socket directory not the user's: exit 3" $? 3
    ud=$(mktemp -d "${TMPDIR:-/tmp}/prm-cli-sock.XXXXXX"); chmod 755 "$ud"
    mkdir "$ud/run"; chown nobody "$ud/run"
    if start_daemon "$d/d2.log" -c "$d/user.conf" -f -u nobody -p "local:$ud/run/user.sock"; then
        ok "daemon starts with -u nobody"
        check "socket owner" "$(stat -c %U:%G "$ud/run/user.sock")" "nobody:$(id -gn nobody)"
        check "socket mode (default 660)" "$(stat -c %a "$ud/run/user.sock")" 660
        check "pid file names the supervisor" "$(cat "$d/milter.pid" 2>/dev/null)" "$dpid"
        check "supervisor runs as nobody" "$(awk '/^Uid:/ {print $2}' /proc/$dpid/status)" "$(id -u nobody)"
        child=$(milter_child "$dpid")
        check "milter process runs as nobody" "$(awk '/^Uid:/ {print $2 "," $3}' /proc/$child/status 2>/dev/null)" \
            "$(id -u nobody),$(id -u nobody)"
        check "no supplementary root group" "$(awk '/^Groups:/ {print $2}' /proc/$child/status 2>/dev/null)" \
            "$(id -G nobody | awk '{print $1}')"
        check "no core file: core size limit 0" \
            "$(awk '/^Max core file size/ {print $5 "," $6}' /proc/$child/limits 2>/dev/null)" "0,0"
        stop_daemon "$dpid"; check "-u nobody daemon stops with status 0" $? 0
    else
        notok "daemon starts with -u nobody"; cat "$d/d2.log"
    fi
    rm -rf "$ud"
fi

# Core dumps (issue 7: secrets): started as an ordinary user (no setuid()
# that would reset the flag), the milter makes itself non-dumpable, so that
# another process of the same user cannot read its memory or environment;
# allow_core_dumps = yes leaves it dumpable. The core size limit is 0.
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1 && command -v setpriv > /dev/null; then
    nd=$(mktemp -d "${TMPDIR:-/tmp}/prm-cli-nobody.XXXXXX")
    chmod 755 "$nd"; chown nobody "$nd"
    sed "s|@DIR@|$nd|g" "$srcdir/partners.conf.in" > "$nd/partners.conf"
    sed "s|@DIR@|$nd|g" "$srcdir/test.conf.in" | sed '/^stats_file/d' > "$nd/test.conf"
    chmod 600 "$nd/partners.conf"; chown nobody "$nd/partners.conf" "$nd/test.conf"
    # A wrapper that execs (same pid) the milter as nobody, for start_daemon.
    printf '#!/bin/sh\nexec setpriv --reuid=%s --regid=%s --clear-groups %s "$@"\n' \
        "$(id -u nobody)" "$(id -g nobody)" "$M" > "$nd/asnobody"
    chmod 755 "$nd/asnobody"
    Msaved=$M; M=$nd/asnobody
    for allow in no yes; do
        [ $allow = yes ] && printf 'allow_core_dumps = yes\n' > "$nd/add" && sed "/^\[milter\]/r $nd/add" "$nd/test.conf" > "$nd/allow.conf" && chown nobody "$nd/allow.conf"
        conf=$nd/test.conf; [ $allow = yes ] && conf=$nd/allow.conf
        if start_daemon "$d/d3.log" -c "$conf" -f -p "local:$nd/m.sock"; then
            # The wrapper exec'd setpriv, which exec'd the milter: same pid.
            child=$(milter_child "$dpid")
            # Another process of the same user reads /proc/PID/environ only
            # when PID is dumpable (ptrace access mode check).
            want=refused; [ $allow = yes ] && want=readable
            for p in "$dpid" "$child"; do
                got=refused
                setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups \
                    cat "/proc/$p/environ" > /dev/null 2>&1 && got=readable
                check "allow_core_dumps=$allow: /proc/$p/environ for the same user" "$got" "$want"
            done
            [ $allow = no ] && check "allow_core_dumps=no: core size limit 0" \
                "$(awk '/^Max core file size/ {print $5 "," $6}' /proc/$child/limits 2>/dev/null)" "0,0"
            stop_daemon "$dpid"; check "allow_core_dumps=$allow: stops with status 0" $? 0
        else
            notok "daemon starts as nobody (allow_core_dumps=$allow)"; cat "$d/d3.log"
        fi
    done
    M=$Msaved
    rm -rf "$nd"
fi

echo "1..$n"
[ $failed -eq 0 ]
