#!/usr/bin/env bash
# Fuzz smoke (issue 13): every cargo-fuzz target built once and run ~15 s from its seed corpus
# (generated from vectors/ by fuzz/seeds.py); any crash, panic, over-long input (-timeout=10) or
# memory blow-up fails the step. cargo-fuzz is pinned (fuzz/run.sh: 0.13.2, installed with
# --locked under fuzz/target/tools, bounded by `timeout`). Stable toolchain + RUSTC_BOOTSTRAP=1,
# no sanitizer. The long runs (10 minutes per target) are `cargo xtask fuzz TARGET 600`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 3000 bash fuzz/run.sh all "${FUZZ_SMOKE_SECS:-15}"
