#!/bin/sh
# indented.sh - issue 17 finding 2: an indented line continues the value
# above it in INI (inih). Under port, categories, tls or match_senders, an
# indented "password = ..." line used to be joined to that value and
# echoed, password and line break included, by partner-relay-milter -n,
# partner-relay-tables --check and partner-relay-probe --json
# (inactive_reason). Each must now show the fixed "KEY value continues on
# line N: an indented line?" and never the password.
#
# Environment: PRM_MILTER (the milter binary; the tables tool and the probe
# are taken from the same directory). TAP output; exit 1 when a check failed.
set -u
M=${PRM_MILTER:-../../src/partner-relay-milter}
bindir=$(dirname "$M")
T=$bindir/partner-relay-tables
P=$bindir/partner-relay-probe

n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
contains() { if grep -qF -- "$3" "$2"; then ok "$1"; else notok "$1: '$3' not in output:"; sed 's/^/#   /' "$2"; fi; }
lacks() { if grep -qF -- "$3" "$2"; then notok "$1: '$3' found:"; sed 's/^/#   /' "$2"; else ok "$1"; fi; }

d=$(mktemp -d "${TMPDIR:-/tmp}/prm-indented.XXXXXX") || exit 1
trap 'rm -rf "$d"' EXIT
secret=S3cret-Canary-indented
printf '[milter]\nfallback_sender = noreply@platform.example\npartners = %s/partners.conf\ntables_dir =\n' "$d" > "$d/m.conf"
for key in "port = 587" "categories = custom" "tls = verify" "match_senders = @acme.example"; do
    name=${key%% *}
    printf '[acme]\nhost = 127.0.0.1\n%s\n  password = %s\nusername = u\nsender = n@acme.example\n' \
        "$key" "$secret" > "$d/partners.conf"
    chmod 600 "$d/partners.conf"
    "$M" -c "$d/m.conf" -n > "$d/n.out" 2>&1
    "$T" -c "$d/m.conf" --check > "$d/check.out" 2>&1
    "$P" -c "$d/m.conf" --json acme > "$d/probe.out" 2>&1
    for out in n check probe; do
        lacks "$name: $out never shows the password" "$d/$out.out" "$secret"
        contains "$name: $out names the key and the line" "$d/$out.out" \
            "$name value continues on line 4: an indented line?"
    done
done
echo "1..$n"
[ $failed -eq 0 ]
