#!/usr/bin/env bash
# Fuzz smoke (issue 13): every cargo-fuzz target built once and run ~15 s from its seed corpus
# (generated from vectors/ by fuzz/seeds.py); any crash, panic, over-long input (-timeout=10) or
# memory blow-up fails the step. cargo-fuzz is pinned (fuzz/run.sh: 0.13.2, installed with
# --locked under fuzz/target/tools, bounded by `timeout`). Stable toolchain + RUSTC_BOOTSTRAP=1,
# no sanitizer. The long runs (10 minutes per target) are `cargo xtask fuzz TARGET 600`.
set -euo pipefail
cd "$(dirname "$0")/../.."
# A per-commit seed (as the soaks): the same commit repeats the same mutations, each commit
# explores others. Printed by run.sh.
if [ -z "${FUZZ_SEED:-}" ]; then
  h=$(git rev-parse HEAD 2>/dev/null | cut -c1-7)
  [ -n "$h" ] || h=5eed013
  FUZZ_SEED=$((16#$h))
  export FUZZ_SEED
fi
exec timeout 3000 bash fuzz/run.sh all "${FUZZ_SMOKE_SECS:-15}"
