#!/usr/bin/env bash
# Independent confirmation of the http-sig suite (issue 17, items 3 and 4): three independent
# RFC 9421 libraries run every vector and rule they can express, through the `--target-cmd`
# shims of conformance/interop/ (protocol: conformance/interop/README.md), and their verdicts
# must be exactly those of conformance/expected/http-sig-<peer>-<version>.tsv, BoGo style: each
# known disagreement is listed with who is right and the RFC 9421 section. A new disagreement,
# or a listed one that went away, fails the step (`--expect`: exit 1, differences listed first).
#   npm  http-message-signatures 1.0.6   conformance/interop/http_sig_shim_npm_http_message_signatures.mjs
#   npm  http-message-sig 0.3.0          conformance/interop/http_sig_shim_npm_http_message_sig.mjs
#   PyPI http-message-signatures 3.0.0   conformance/interop/http_sig_shim_pypi.py (+ cryptography)
# Needs node (>= 18) with npm, python3 with venv, and access to the npm and PyPI registries.
# Bounded: installs under `timeout`, each run under `timeout`, every shim answer under the
# suite's cmd_timeout (10 s) and the whole run under cmd_deadline. Exact pinned versions,
# installed under target/ (nothing global).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=target/http-sig-peers
if ! command -v npm >/dev/null || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
  echo "21-http-sig-peers: needs node >= 18 and npm (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
fi
mkdir -p "$work/npm" target/ci-reports
if [ ! -f "$work/npm/package.json" ]; then
  echo '{"private": true}' > "$work/npm/package.json"
fi
timeout 300 npm install --prefix "$work/npm" --no-audit --no-fund --save-exact --loglevel=error \
  http-message-signatures@1.0.6 http-message-sig@0.3.0
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
fi
timeout 300 "$work/venv/bin/pip" install --quiet --disable-pip-version-check --timeout 60 \
  http-message-signatures==3.0.0 http-sf==1.5.0 cryptography==51.0.1

cargo build --quiet --locked -p sigharness --bin sigharness
bin="${CARGO_TARGET_DIR:-target}/debug/sigharness"

status=0
peer() {
  local name=$1 version=$2 cmd=$3
  echo "== http-sig peer $name@$version"
  timeout 600 "$bin" conformance --suite http-sig --target-cmd "$cmd" \
    --set "target_name=$name@$version" --set cmd_deadline=500 \
    --expect "conformance/expected/http-sig-$name-$version.tsv" \
    --report-dir "target/ci-reports/http-sig-$name-$version" || status=1
}
peer npm-http-message-signatures 1.0.6 \
  "node conformance/interop/http_sig_shim_npm_http_message_signatures.mjs $work/npm"
peer npm-http-message-sig 0.3.0 \
  "node conformance/interop/http_sig_shim_npm_http_message_sig.mjs $work/npm"
peer pypi-http-message-signatures 3.0.0 \
  "$work/venv/bin/python conformance/interop/http_sig_shim_pypi.py"
exit $status
