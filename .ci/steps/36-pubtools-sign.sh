#!/usr/bin/env bash
# The deployed messaging-signer client judged in CI, BoGo style: pubtools-sign 1.0.6 (PyPI, with
# python-qpid-proton) in a venv runs every client-mode case of the msg-signer suite, and the
# verdicts must be exactly those of conformance/expected/pubtools-sign-1.0.6.tsv (case id ->
# expected verdict -> the documented departure of ../shared/notes/msg-signer-wire.md it shows).
# Any difference, in either direction, fails the step (`--expect`: exit 1, differences listed
# first). Real time: about 95 s on the 2-core machine (cases run 6 at once); the install about
# 11 s (proton installs as a wheel). Loopback only: the suite's embedded brokers and mock
# signing servers. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
timeout 300 "$work/venv/bin/pip" install --quiet --disable-pip-version-check --timeout 60 \
  pubtools-sign==1.0.6 python-qpid-proton==0.40.0
client="$work/venv/bin/pubtools-sign-msg-container-sign"
test -x "$client"

cargo build --quiet --locked -p sigharness
bin="${CARGO_TARGET_DIR:-$root/target}/debug/sigharness"
mkdir -p target/ci-reports
timeout 900 "$bin" conformance --suite msg-signer --mode client \
  --client-cmd "$client --config-file {config}" \
  --set target_name=pubtools-sign-1.0.6 \
  --expect conformance/expected/pubtools-sign-1.0.6.tsv \
  --report-dir target/ci-reports/pubtools-sign
