#!/usr/bin/env bash
# The full soak: 200,000 calls at concurrency 64 with ~5 % injected engine
# faults through the real binary (tests/it/soak.rs), then the books and the
# RSS curve are checked. `cargo test` runs the same test with 3,000 calls.
#
#   scripts/soak.sh [CALLS] [CONCURRENCY] [sqlite|postgres]   (default 200000 64 sqlite)
#
# The RSS curve and throughput land in target/soak-report.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIEAGENT_SOAK_CALLS=${1:-200000}
export VIEAGENT_SOAK_CONCURRENCY=${2:-64}
export VIEAGENT_SOAK_BACKEND=${3:-sqlite}
timeout 900 cargo test --test it soak::soak_with_injected_faults -- --exact --nocapture
python3 - <<'PY'
import json
r = json.load(open("target/soak-report.json"))
rss = [k for _, k in r["rss_kib"]]
print(f'{r["calls"]} calls in {r["seconds"]:.0f}s ({r["calls_per_second"]:.0f}/s), '
      f'{r["faults_injected"]} faults injected, {r["failed"]} failed, {r["succeeded"]} succeeded')
if rss:
    step = max(1, len(rss) // 12)
    print("RSS MiB over the run:", " ".join(f"{k/1024:.0f}" for k in rss[::step]))
if r.get("backend") == "sqlite":
    print(f'largest SQLite WAL: {r.get("wal_max_bytes", 0) / 1048576:.1f} MiB')
PY
