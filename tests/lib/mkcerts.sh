#!/bin/sh
# mkcerts.sh DIR - make the test PKI for the fake relays and the probe tests.
#
# Writes into DIR (created if needed):
#   ca.pem ca.key            a throwaway test CA (the harness trusts it through
#                            [milter] relay_cafile)
#   server.pem server.key    signed by it for DNS:localhost and IP:127.0.0.1
#   wrong.pem wrong.key      signed by it for DNS:wrong.example only
#   expired.pem expired.key  signed by it for DNS:localhost, valid only in
#                            January 2020
#   soon.pem soon.key        signed by it for DNS:localhost, expires in 5 days
#   selfsigned.pem .key      self-signed for DNS:localhost (no CA vouches)
# EC P-256 keys, mode 0600; certificates 0644.  Idempotent: if the set is
# complete, the valid leaves verify against ca.pem and soon.pem has more
# than a day left, nothing is done.  Several concurrent runs on one DIR are
# serialised with flock(1).  No prompts.
# These keys are test values only: never use them for anything real.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

FILES="ca.pem ca.key server.pem server.key wrong.pem wrong.key expired.pem
expired.key soon.pem soon.key selfsigned.pem selfsigned.key"

# have_set: does DIR hold a full, consistent set already?
have_set() {
	for f in $FILES; do
		[ -s "$dir/$f" ] || return 1
	done
	openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" "$dir/wrong.pem" \
		"$dir/soon.pem" >/dev/null 2>&1 &&
		openssl x509 -checkend 86400 -noout -in "$dir/soon.pem" >/dev/null
}

# newkey FILE: a P-256 private key, readable by the owner only.
newkey() {
	(umask 077 && openssl genpkey -algorithm EC \
		-pkeyopt ec_paramgen_curve:P-256 -out "$1")
}

# leaf NAME SAN CN [DAYS]: a server certificate signed by the test CA.
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
		-days "${4:-3650}" -sha256 -extfile "$tmp/$1.ext" -out "$tmp/$1.pem" \
		2>/dev/null
}

# expired NAME: a localhost certificate by the test CA that expired in 2020
# (openssl x509 -req cannot backdate; openssl ca can).
expired() {
	leaf "$1" "DNS:localhost" localhost
	mkdir "$tmp/db"
	: >"$tmp/db/index.txt"
	cat >"$tmp/db/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
database = $tmp/db/index.txt
new_certs_dir = $tmp/db
serial = $tmp/db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
	openssl ca -batch -config "$tmp/db/ca.cnf" -cert "$tmp/ca.pem" \
		-keyfile "$tmp/ca.key" -in "$tmp/$1.csr" -out "$tmp/$1.pem" \
		-rand_serial -notext -startdate 20200101000000Z \
		-enddate 20200201000000Z -extfile "$tmp/$1.ext" 2>/dev/null
}

# selfsigned NAME: a localhost certificate that no CA vouches for.
selfsigned() {
	newkey "$tmp/$1.key"
	openssl req -x509 -new -key "$tmp/$1.key" -sha256 -days 3650 \
		-subj "/CN=localhost" -addext "subjectAltName = DNS:localhost" \
		-addext "basicConstraints = critical, CA:FALSE" -out "$tmp/$1.pem"
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
leaf soon "DNS:localhost" localhost 5
expired expired
selfsigned selfsigned

for f in $FILES; do
	case $f in
	*.key) chmod 0600 "$tmp/$f" ;;
	*) chmod 0644 "$tmp/$f" ;;
	esac
	mv -f "$tmp/$f" "$dir/$f"
done
have_set || { echo "$0: generated certificates do not verify" >&2; exit 1; }
