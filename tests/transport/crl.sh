#!/bin/sh
# crl.sh - certificate revocation lists for the CRL tests, made with the
# openssl CLI from the test CA of tests/support/certs.sh.
#
# Usage: crl.sh CERTDIR
#
# Writes into CERTDIR (which holds ca.crt, ca.key and server.crt):
#   crl-empty.pem     a CRL of the test CA revoking nothing
#   crl-revoked.pem   a CRL of the test CA revoking server.crt
#   crl-dir/<hash>.r0 crl-revoked.pem as a hashed CRL directory
set -eu

if [ $# -ne 1 ] || [ ! -f "$1/ca.key" ]; then
    echo "usage: $0 CERTDIR (made by certs.sh)" >&2
    exit 2
fi
dir=$(cd "$1" && pwd)
[ -f "$dir/crl-revoked.pem" ] && exit 0

work=$(mktemp -d "$dir/.crl.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > ca.cnf <<'EOF'
[ ca ]
default_ca = tca
[ tca ]
database = ./index.txt
crlnumber = ./crlnumber
default_md = sha256
default_crl_days = 30
EOF
: > index.txt
echo 01 > crlnumber
openssl ca -config ca.cnf -gencrl -cert "$dir/ca.crt" -keyfile "$dir/ca.key" \
    -out crl-empty.pem 2>/dev/null
openssl ca -config ca.cnf -revoke "$dir/server.crt" -cert "$dir/ca.crt" \
    -keyfile "$dir/ca.key" 2>/dev/null
openssl ca -config ca.cnf -gencrl -cert "$dir/ca.crt" -keyfile "$dir/ca.key" \
    -out crl-revoked.pem 2>/dev/null
mkdir crl-dir
cp crl-revoked.pem "crl-dir/$(openssl crl -in crl-revoked.pem -noout -hash).r0"
chmod 0644 crl-empty.pem crl-revoked.pem crl-dir/*
rm -rf "$dir/crl-dir"
mv crl-dir "$dir/"
mv crl-empty.pem "$dir/"
mv crl-revoked.pem "$dir/"
