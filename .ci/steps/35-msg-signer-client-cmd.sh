#!/usr/bin/env bash
# The msg-signer client suite judging a client that runs as its own process (`--client-cmd`): our
# reference client's CLI stands in for a vendor's client, so the command-line expansion ({config},
# --task-id, --signing-key, --digest/--reference, --requester), the JSON output contract and the
# exit codes are exercised end to end. Real time (the suite cannot pause another process's clock);
# independent cases run 6 at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
cargo build --quiet --locked -p sigharness
bin="${CARGO_TARGET_DIR:-$root/target}/debug/sigharness"
mkdir -p target/ci-reports
timeout 900 "$bin" conformance --suite msg-signer --mode client \
  --client-cmd "$bin msg-signer container-sign --config-file {config}" \
  --report-dir target/ci-reports/msg-signer-client-cmd
