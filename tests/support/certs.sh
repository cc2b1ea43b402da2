#!/bin/sh
# certs.sh - make throwaway TLS test certificates with the openssl CLI.
#
# Usage: certs.sh DIR
#
# Writes into DIR (created if missing), all EC P-256, PEM:
#   ca.crt ca.key               test CA ("libmq test CA")
#   ca-dir/<hash>.0             the same CA as a hashed CA directory
#   other-ca.crt other-ca.key   an unrelated CA (for "wrong CA" tests)
#   server.crt server.key       server cert: DNS:localhost, IP:127.0.0.1, IP:::1
#   client.crt client.key       client cert (CN=libmq-test-client, clientAuth)
#   client-enc.key              client.key encrypted with the password "secret"
#   expired.crt expired.key     server cert for localhost/127.0.0.1/::1,
#                               valid only in January 2020
#   wronghost.crt wronghost.key server cert for DNS:wrong.example.invalid only
#
# Idempotent: when DIR/.complete exists nothing is regenerated. Concurrent
# runs on the same DIR are serialised with flock when it is available.
# Keys are made world-readable (mode 0644) on purpose: they are throwaway,
# and mosquitto started as root drops to user "mosquitto" before it reads
# its key file.
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
mkdir -p "$dir"
chmod 0755 "$dir"

if command -v flock >/dev/null 2>&1; then
    exec 9>"$dir/.lock"
    flock 9
fi

if [ -f "$dir/.complete" ]; then
    exit 0
fi

work=$(mktemp -d "$dir/.gen.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

cat > openssl.cnf <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ext_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ ext_server ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
[ ext_wronghost ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example.invalid
[ ext_client ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ ca ]
default_ca = tca
[ tca ]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = sha256
policy = pol
unique_subject = no
copy_extensions = none
[ pol ]
commonName = supplied
EOF
export OPENSSL_CONF="$work/openssl.cnf"

key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1" 2>/dev/null
}

# ca NAME CN
ca() {
    key "$1.key"
    openssl req -new -x509 -config openssl.cnf -key "$1.key" -out "$1.crt" \
        -days 30 -subj "/CN=$2" -extensions ext_ca -sha256
}

# leaf NAME CN EXT
leaf() {
    key "$1.key"
    openssl req -new -config openssl.cnf -key "$1.key" -out "$1.csr" \
        -subj "/CN=$2"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial \
        "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 30 \
        -extfile openssl.cnf -extensions "$3" -sha256 -out "$1.crt" 2>/dev/null
}

ca ca "libmq test CA"
ca other-ca "libmq unrelated CA"
leaf server localhost ext_server
leaf client libmq-test-client ext_client
leaf wronghost wrong.example.invalid ext_wronghost

# The client key again, encrypted (libmq has no password option: refused).
openssl pkey -in client.key -aes256 -passout pass:secret -out client-enc.key

# Expired: openssl x509 -req cannot set dates in OpenSSL 3.0; openssl ca can.
key expired.key
openssl req -new -config openssl.cnf -key expired.key -out expired.csr \
    -subj "/CN=localhost"
: > index.txt
echo 1000 > serial
openssl ca -batch -config openssl.cnf -cert ca.crt -keyfile ca.key \
    -in expired.csr -out expired.crt -notext -extensions ext_server \
    -startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null

mkdir ca-dir
cp ca.crt "ca-dir/$(openssl x509 -in ca.crt -noout -hash).0"

chmod 0644 ./*.key ./*.crt ca-dir/*
chmod 0755 ca-dir
for f in ca other-ca server client expired wronghost; do
    mv -f "$f.crt" "$f.key" "$dir/"
done
mv -f client-enc.key "$dir/"
rm -rf "$dir/ca-dir"
mv ca-dir "$dir/ca-dir"
touch "$dir/.complete"
