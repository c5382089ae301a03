#!/bin/sh
# redis-tls.sh OUT_DIR NAME [NAME...]: a private CA and a certificate for Redis's TLS port, for the
# remote workers (docs/deploy.md, "Remote workers"). NAMEs are the DNS names or IP addresses the
# workers dial (the certificate's subjectAltName). Writes ca.crt (give it to each remote worker),
# ca.key (keep it offline: it signs), redis.crt and redis.key (Docker secrets for Redis).
# ECDSA P-256, valid for REDIS_TLS_DAYS (default 825) days.
set -eu
out=$1; shift
[ $# -gt 0 ] || { echo "usage: redis-tls.sh OUT_DIR NAME [NAME...]" >&2; exit 2; }
days=${REDIS_TLS_DAYS:-825}
umask 077
mkdir -p "$out"
san=""
for n in "$@"; do
	case $n in
	*[!0-9.]*) case $n in *:*) kind=IP ;; *) kind=DNS ;; esac ;;
	*) kind=IP ;;
	esac
	san="${san:+$san,}$kind:$n"
done
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
[ -f "$out/ca.key" ] || key "$out/ca.key"
[ -f "$out/ca.crt" ] || openssl req -x509 -new -key "$out/ca.key" -out "$out/ca.crt" -days "$days" \
	-subj "/CN=Parley Redis CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
key "$out/redis.key"
openssl req -new -key "$out/redis.key" -subj "/CN=$1" -out "$out/redis.csr"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" > "$out/redis.ext"
openssl x509 -req -in "$out/redis.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
	-out "$out/redis.crt" -days "$days" -extfile "$out/redis.ext" 2>/dev/null
rm -f "$out/redis.csr" "$out/redis.ext" "$out/ca.srl"
chmod 644 "$out/ca.crt" "$out/redis.crt"
echo "redis-tls.sh: $out/redis.crt for $san, signed by $out/ca.crt"
