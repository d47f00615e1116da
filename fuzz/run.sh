#!/usr/bin/env bash
# Fuzz the parsers: fuzz/run.sh [TARGET|all] [SECONDS] (defaults: all, 20 s each).
# Installs cargo-fuzz (pinned) under fuzz/target/tools if missing, writes the seed corpora
# (fuzz/seeds.py -> fuzz/corpus/), builds every target once, then runs each for SECONDS from its
# corpus, one after the other. Any crash, panic, timeout (-timeout: one input over 10 s) or
# out-of-memory (-rss_limit_mb) fails the script; libFuzzer writes the input to
# fuzz/artifacts/TARGET/ (with the run's log, run.log). Replay a crash with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-...
#
# Toolchain: CI has only the stable toolchain, so RUSTC_BOOTSTRAP=1 lets stable rustc take the
# flags libFuzzer's instrumentation needs. No sanitizer (-s none): our crates forbid unsafe code,
# and ASan would instrument only Rust code anyway (not aws-lc's C); the coverage-guided run with
# debug assertions and overflow checks (fuzz/Cargo.toml [profile.release]) is what we gain from.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
TARGETS=(sig_input sig_field http_message key profile_policy msg_signer_config reply_envelope
  mq_hub_token mq_hub_codec mq_hub_http amqp_broker web_bot_auth)
target=${1:-all}
secs=${2:-20}
if [ "$target" != all ] && [[ ! " ${TARGETS[*]} " =~ " $target " ]]; then
  echo "fuzz/run.sh: unknown target $target (targets: ${TARGETS[*]})" >&2
  exit 2
fi
case "$secs" in '' | *[!0-9]*) echo "fuzz/run.sh: SECONDS must be a number" >&2; exit 2 ;; esac

# FUZZ_SEED (a number): libFuzzer's -seed, so a run can be repeated on the same commit (CI's
# smoke step derives it from the commit, as the soaks do); unset, libFuzzer picks one and logs it.
seed=()
if [ -n "${FUZZ_SEED:-}" ]; then
  case "$FUZZ_SEED" in *[!0-9]*) echo "fuzz/run.sh: FUZZ_SEED must be a number" >&2; exit 2 ;; esac
  seed=(-seed="$FUZZ_SEED")
  echo "== fuzz seed: $FUZZ_SEED (FUZZ_SEED=$FUZZ_SEED bash fuzz/run.sh TARGET SECONDS repeats it)"
fi

export RUSTC_BOOTSTRAP=1
# The fuzz crate is a workspace of its own with its own target dir: fuzz/target, or
# FUZZ_TARGET_DIR (e.g. a cache kept between CI runs: a cold build is most of this script's time).
unset CARGO_TARGET_DIR
target_dir=${FUZZ_TARGET_DIR:-$PWD/fuzz/target}
tools="$target_dir/tools"
export PATH="$tools/bin:$PATH"
if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  timeout 900 cargo install --quiet --locked --root "$tools" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

python3 fuzz/seeds.py --out fuzz/corpus >/dev/null

echo "== building the fuzz targets"
timeout 2400 cargo fuzz build -s none --fuzz-dir fuzz --target-dir "$target_dir"

run() {
  local t=$1 log="fuzz/artifacts/$1/run.log" status=0 len=()
  # Configuration texts get room for large inputs (nesting depth, long values); the others keep
  # libFuzzer's default (4096 bytes or the largest seed), which keeps them fast.
  case "$t" in profile_policy | msg_signer_config | mq_hub_codec) len=(-max_len=65536) ;; esac
  echo "== $t: ${secs}s"
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  # -timeout: one input taking over 10 s is a failure (bounded time); -rss_limit_mb: memory.
  timeout $((secs + 300)) cargo fuzz run -s none --fuzz-dir fuzz --target-dir "$target_dir" "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 "${len[@]}" "${seed[@]}" \
    -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +DONE|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|INFO: seed corpus)' "$log" || true
  if [ "$status" -ne 0 ]; then
    echo "== $t FAILED (exit $status); the end of $log:"
    tail -n 60 "$log"
    return "$status"
  fi
}

if [ "$target" = all ]; then
  for t in "${TARGETS[@]}"; do run "$t"; done
else
  run "$target"
fi
echo "== fuzz: no crash"
