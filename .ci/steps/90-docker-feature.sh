#!/usr/bin/env bash
# Builds `sigharness` with the cargo feature `docker` (testcontainers brokers for
# `--broker container:artemis|rabbitmq`) and runs the unit tests of its `containers` module.
# CI has no Docker engine: the tests check parsing, the generated broker configuration, the error
# texts, and that starting a container fails within a bound with one line naming Docker.
# Only the library's unit tests of that module: the rest was tested without the feature already.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "docker feature: cargo test -p sigharness --features docker --lib containers --locked"
cargo test -p sigharness --features docker --lib containers --locked

# The binary with the feature, on a machine without Docker: one line naming Docker, exit 2
# (or, where an engine exists, the suite runs through the container).
cargo build --quiet -p sigharness --features docker --locked
bin="${CARGO_TARGET_DIR:-$(pwd)/target}/debug/sigharness"
if [ -S /var/run/docker.sock ] || [ -n "${DOCKER_HOST:-}" ]; then
  echo "a Docker engine is present: running the msg-signer suite through container:artemis"
  timeout 1200 "$bin" conformance --suite msg-signer --broker container:artemis --set server=mock
else
  set +e
  out=$(timeout 60 "$bin" conformance --suite msg-signer --broker container:artemis 2>&1)
  code=$?
  set -e
  echo "$out"
  [ "$code" -eq 2 ] || { echo "expected exit 2 without a Docker engine, got $code"; exit 1; }
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || { echo "expected one line"; exit 1; }
  printf '%s' "$out" | grep -q "Docker" || { echo "the line must name Docker"; exit 1; }
fi
# The last step on purpose: no later step needs the default-feature build back (before, as step
# 15, it rebuilt sigharness once more for the steps after it).
