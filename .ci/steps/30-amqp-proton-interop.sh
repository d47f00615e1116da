#!/usr/bin/env bash
# Proton interop: python-qpid-proton 0.40.0 (PyPI) sends to and receives from `sigharness serve
# broker`, over plain AMQP (SASL ANONYMOUS) and over TLS with a client certificate (SASL EXTERNAL).
# Loopback only; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

python3 -m venv "$work/venv"
timeout 300 "$work/venv/bin/pip" install --quiet --disable-pip-version-check --timeout 60 python-qpid-proton==0.40.0
py="$work/venv/bin/python"

cargo build --quiet -p sigharness
bin="${CARGO_TARGET_DIR:-$root/target}/debug/sigharness"

# Certificates: a CA, a server certificate for 127.0.0.1, a client certificate (v3, CN + UID).
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=interop CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > server.ext
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n' > client.ext
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/UID=interop-uid/CN=interop-client" -keyout client.key -out client.csr 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.pem 2>/dev/null

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_listening() { # bounded: 10 s
  for _ in $(seq 100); do grep -q "listening" "$1" && return 0; sleep 0.1; done
  echo "broker did not start:"; cat "$1"; return 1
}

plain=$(free_port)
"$bin" serve broker --listen "127.0.0.1:$plain" > plain.log 2>&1 & pids+=($!)
wait_listening plain.log
timeout 30 "$py" "$root/conformance/interop/amqp_proton_interop.py" "amqp://127.0.0.1:$plain"

tls=$(free_port)
"$bin" serve broker --listen "127.0.0.1:$tls" --tls-cert server.pem --tls-key server.key --client-ca ca.pem > tls.log 2>&1 & pids+=($!)
wait_listening tls.log
timeout 30 "$py" "$root/conformance/interop/amqp_proton_interop.py" "amqps://127.0.0.1:$tls" ca.pem client.pem client.key
echo "proton interop: plain and TLS + client certificate (EXTERNAL) passed"
