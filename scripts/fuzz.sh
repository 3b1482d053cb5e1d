#!/usr/bin/env bash
# Longer fuzz runs of the property-based targets in tests/it/fuzz.rs, each
# bounded in time. CI runs the same targets with a few hundred cases as part
# of `cargo test`; run this before a release or after touching a parser.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 120)
#
# PROPTEST_CASES is set high so time, not the case count, bounds each run;
# a failure prints the minimal failing input (proptest shrinks it).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
cargo test --quiet --test it --no-run
for target in fuzz_schema_generator fuzz_argument_validator fuzz_sse_message_handler; do
  echo "==> $target (up to ${seconds}s)"
  start=$(date +%s)
  status=0
  PROPTEST_CASES=${PROPTEST_CASES:-1000000} timeout --signal=INT "$seconds" \
    cargo test --quiet --test it "fuzz::$target" -- --exact --nocapture || status=$?
  # 124/130: stopped by the time bound without a failure.
  if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && [ "$status" -ne 130 ]; then
    echo "FAIL: $target (exit $status)" >&2
    exit "$status"
  fi
  echo "    ran $(( $(date +%s) - start ))s without a failure"
done
