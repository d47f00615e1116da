#!/usr/bin/env bash
# RFC 9421 interop with an independent implementation (issue section 6): the PyPI package
# `http-message-signatures` in a virtualenv, against our `sigharness http-sig` CLI, both directions.
# Needs python3 with the venv module (Debian: apt-get install -y python3-venv) and PyPI access.
# Bounded: pip has a timeout, the script has per-call and overall deadlines.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${HTTP_SIG_INTEROP_VENV:-target/interop-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
timeout 300 "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 60 \
  'http-message-signatures>=0.5,<3' 'requests>=2'
# The dev build (dependencies at opt-level 1) is the one `cargo test` and `cargo xtask conformance`
# already made: no second, release compile of the workspace in CI.
cargo build --quiet --locked -p sigharness --bin sigharness
bin="${CARGO_TARGET_DIR:-target}/debug/sigharness"
timeout 600 "$venv/bin/python" conformance/interop/http_sig_interop.py \
  --sigharness "$bin" --keys vectors/keys --timeout 20 --deadline 300
