#!/bin/sh
# check-options.sh - every option a program accepts is in its man page.
#
# Usage: check-options.sh SRCDIR BUILDDIR. Takes the options from each
# program's own usage text (-h), so a new option without documentation
# fails here; looks for ".Fl X" (or ".Fl -long") in the page source.
set -u
src=$1 build=$2
fail=0 checked=0
for prog in partner-relay-milter partner-relay-tables partner-relay-probe partner-relay-tokend \
    partner-relay-sync; do
    page="$src/$prog.8.in"
    usage=$("$build/src/$prog" -h 2>&1)
    [ -n "$usage" ] || { echo "FAIL: $prog -h printed nothing"; fail=1; continue; }
    opts=$(printf '%s\n' "$usage" | grep -oE '(^|[[ |])--?[A-Za-z][A-Za-z-]*' |
           sed -E 's/^[[ |]//' | sort -u)
    for o in $opts; do
        checked=$((checked + 1))
        flag=${o#-}   # "-c" -> "c", "--check" -> "-check", written "\\-check" in mdoc
        pat=$(printf '%s' "$flag" | sed 's/^-/\\\\?-/')
        if ! grep -qE "Fl ([^ ]* )*$pat( |\$)" "$page"; then
            echo "FAIL: $prog accepts $o but $prog.8 has no '.Fl $flag'"
            fail=1
        fi
    done
done
echo "checked $checked options"
[ $fail = 0 ] && echo "PASS: every option is documented" || exit 1
