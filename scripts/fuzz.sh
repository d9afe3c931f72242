#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 60) with cargo-fuzz (libFuzzer).
# The machine has only stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the sanitizer flags.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script; turn it into a
# regression test in core before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

total=0
for target in token_format authorization_header forwarded_for session_login ip_entry settings_json wiremock_mapping; do
  mkdir -p "fuzz/corpus/$target"
  log=$(mktemp)
  if ! cargo fuzz run "$target" "fuzz/corpus/$target" -- -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target FAILED (input in fuzz/artifacts/$target/)"
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  echo "fuzz: $target: ${runs:-?} executions in ${SECONDS_EACH}s, no crash"
  total=$((total + ${runs:-0}))
  rm -f "$log"
done
echo "fuzz: $total executions in all, no crash"
