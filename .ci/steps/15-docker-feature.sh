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
