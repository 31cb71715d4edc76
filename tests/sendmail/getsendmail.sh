#!/bin/sh
# getsendmail.sh CACHEDIR - fetch and unpack Debian's Sendmail for the tests.
#
# Downloads sendmail-bin and sendmail-cf with `apt-get download` into
# CACHEDIR (reused between runs; apt-get update once when the download
# fails), unpacks them with dpkg -x into CACHEDIR/root and prints that
# directory. Nothing is installed: sendmail-bin conflicts with Postfix.
# Exit 77 (Automake SKIP) with the reason on stderr when it cannot be done:
# not root, no apt-get/dpkg/m4, no network, or a library the binary needs
# is missing (libwrap0, liblockfile1: contrib/install-deps.sh).
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 CACHEDIR" >&2
	exit 2
fi
skip() {
	echo "SKIP: $*" >&2
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "not root (a private Sendmail daemon needs root)"
for t in apt-get dpkg m4; do
	command -v "$t" >/dev/null 2>&1 || skip "$t is missing (contrib/install-deps.sh)"
done
mkdir -p "$1"
cache=$(cd "$1" && pwd)
root=$cache/root
sm=$root/usr/libexec/sendmail/sendmail

exec 9>"$cache/.lock"
flock 9
if [ ! -x "$sm" ] || [ ! -f "$root/usr/share/sendmail/cf/m4/cf.m4" ]; then
	# apt-get download writes into the current directory; as root it warns
	# that _apt cannot write there, which is harmless.
	(cd "$cache" && rm -f ./*.deb &&
		{ apt-get download sendmail-bin sendmail-cf >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 &&
				apt-get download sendmail-bin sendmail-cf >/dev/null 2>&1; }; }) ||
		skip "apt-get download sendmail-bin sendmail-cf failed (no network or archive?)"
	rm -rf "$root.new"
	for d in "$cache"/sendmail-bin_*.deb "$cache"/sendmail-cf_*.deb; do
		dpkg -x "$d" "$root.new"
	done
	# The archive has it root:mail 02755; as root the set-gid bit would make
	# the loader ignore the environment, and we need no privilege change.
	chmod 0755 "$root.new/usr/libexec/sendmail/sendmail"
	rm -rf "$root"
	mv "$root.new" "$root"
fi
missing=$(ldd "$sm" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')
[ -z "$missing" ] || skip "libraries missing for sendmail: $missing(contrib/install-deps.sh installs libwrap0 liblockfile1)"
echo "$root"
