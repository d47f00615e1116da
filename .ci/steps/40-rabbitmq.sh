#!/usr/bin/env bash
# A real broker: RabbitMQ 3.10 from Debian (AMQP 1.0 plugin, TLS with client-certificate login over
# SASL EXTERNAL), started on loopback by `cargo xtask broker rabbitmq start` with generated
# certificates. The msg-signer suite runs through it in both modes:
#   server mode: our mock signing server attached to RabbitMQ, judged by the suite's AMQP client;
#   client mode: our reference client through RabbitMQ to the mock signing server.
# Cases that need the embedded broker's journal or fault hooks are skipped with that reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  echo "installing rabbitmq-server from Debian"
  export DEBIAN_FRONTEND=noninteractive
  # No service may start during the install (a default node would listen on every address):
  # policy-rc.d answers 101 (action forbidden) to the package's start request.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
  if [ -n "${added_policy:-}" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

cargo build --quiet --locked -p sigharness -p xtask
bin="${CARGO_TARGET_DIR:-$root/target}/debug/sigharness"

stop() { timeout 120 cargo xtask broker rabbitmq stop >/dev/null 2>&1 || true; }
trap stop EXIT
timeout 300 cargo xtask broker rabbitmq start
# shellcheck disable=SC1091
. "$root/target/rabbitmq/broker.env"

out=target/ci-reports/rabbitmq
mkdir -p "$out"
# Server mode judges our mock signing server attached to RabbitMQ (`--set server=mock`; its public
# key is known, so every signature is verified): a vendor gives `--set sig_key_id=...` and
# `--set signing_pubkey=FILE` for their own server instead.
for mode in server client; do
  echo "--- msg-signer --mode $mode through RabbitMQ ($SIGHARNESS_RABBITMQ_TLS_URL)"
  timeout 900 "$bin" conformance --suite msg-signer --mode "$mode" \
    --broker "$SIGHARNESS_RABBITMQ_TLS_URL" --ca "$SIGHARNESS_RABBITMQ_CA" \
    --cert-key "$SIGHARNESS_RABBITMQ_CERT_KEY" --address-map rabbitmq \
    --set server=mock --report-dir "$out/$mode"
done

# Issue 16: the load mode through the same real broker: requests on an open-loop schedule to our
# mock signing server attached to RabbitMQ, every reply correlated and its signature verified
# (exit 1 on any wrong reply). Measured: ~10 s including calibration.
echo "--- load msg-signer through RabbitMQ"
timeout 120 "$bin" load msg-signer --broker "$SIGHARNESS_RABBITMQ_TLS_URL" \
  --ca "$SIGHARNESS_RABBITMQ_CA" --cert-key "$SIGHARNESS_RABBITMQ_CERT_KEY" \
  --address-map rabbitmq --set server=mock --rate 200 --duration 3s --calibrate 1s --quiet \
  --out "$out/load"
