#!/bin/sh
# mkcerts.sh DIR - make the test PKI for the fake relays and the probe tests.
#
# Writes into DIR (created if needed):
#   ca.pem ca.key          a throwaway test CA
#   server.pem server.key  signed by it for DNS:localhost and IP:127.0.0.1
#   wrong.pem wrong.key    signed by it for DNS:wrong.example only
# EC P-256 keys, mode 0600; certificates 0644.  Idempotent: if the set is
# complete and both leaves verify against ca.pem, nothing is done.  Several
# concurrent runs on one DIR are serialised with flock(1).  No prompts.
# These keys are test values only: never use them for anything real.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# have_set: does DIR hold a full, consistent set already?
have_set() {
	for f in ca.pem ca.key server.pem server.key wrong.pem wrong.key; do
		[ -s "$dir/$f" ] || return 1
	done
	openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" "$dir/wrong.pem" \
		>/dev/null 2>&1
}

# newkey FILE: a P-256 private key, readable by the owner only.
newkey() {
	(umask 077 && openssl genpkey -algorithm EC \
		-pkeyopt ec_paramgen_curve:P-256 -out "$1")
}

# leaf NAME SAN: a server certificate signed by the test CA.
leaf() {
	newkey "$tmp/$1.key"
	openssl req -new -key "$tmp/$1.key" -subj "/CN=$3" \
		-out "$tmp/$1.csr"
	cat >"$tmp/$1.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $2
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
	openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/ca.pem" \
		-CAkey "$tmp/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 3650 -sha256 -extfile "$tmp/$1.ext" -out "$tmp/$1.pem" \
		2>/dev/null
}

exec 9>"$dir/.mkcerts.lock"
flock 9

if have_set; then
	exit 0
fi

tmp=$(mktemp -d "$dir/.mkcerts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

newkey "$tmp/ca.key"
openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days 3650 \
	-subj "/CN=partner-relay-milter test CA" \
	-addext "basicConstraints = critical, CA:TRUE" \
	-addext "keyUsage = critical, keyCertSign, cRLSign" \
	-addext "subjectKeyIdentifier = hash" \
	-out "$tmp/ca.pem"
leaf server "DNS:localhost, IP:127.0.0.1" localhost
leaf wrong "DNS:wrong.example" wrong.example

chmod 0600 "$tmp/ca.key" "$tmp/server.key" "$tmp/wrong.key"
chmod 0644 "$tmp/ca.pem" "$tmp/server.pem" "$tmp/wrong.pem"
for f in ca.key server.key wrong.key ca.pem server.pem wrong.pem; do
	mv -f "$tmp/$f" "$dir/$f"
done
have_set || { echo "$0: generated certificates do not verify" >&2; exit 1; }
