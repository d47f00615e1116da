#!/usr/bin/env bash
# Issue 16 item 4: the Locust path of `sigharness load` — a corpus from `sigharness load prepare`,
# replayed by a Locust master and two workers on loopback (conformance/load/locustfile.py), judged
# by `sigharness load judge` (every reply right, the workers' records merged into one report).
# Then the in-process path against our verifier (`sigharness load http-sig-verifier`), so both
# paths run in CI. Locust 2.47 from PyPI in a virtualenv (bounded: pip has a timeout).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${LOAD_LOCUST_VENV:-target/locust-venv}"
if [ ! -x "$venv/bin/locust" ]; then
  python3 -m venv "$venv"
  timeout 300 "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 60 'locust==2.47.0'
fi
"$venv/bin/locust" --version
cargo build --quiet --locked -p sigharness --bin sigharness
bin="${CARGO_TARGET_DIR:-target}/debug/sigharness"
out=target/ci-reports/load-locust
timeout 180 bash conformance/load/run-locust.sh "$bin" "$venv/bin/locust" "$out" 200 5 2 40
test -s "$out/load.json" && test -s "$out/load.svg"
timeout 60 "$bin" load http-sig-verifier --rate 300 --duration 3s --calibrate 1s --quiet \
  --out target/ci-reports/load-http-sig-verifier
