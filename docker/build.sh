#!/usr/bin/env bash
# The image's build steps as plain commands: the Dockerfile runs them, and
# .ci/run runs the same script in a scratch copy of the build context (there
# is no Docker engine on CI machines).
#
#   docker/build.sh deps   build every dependency against stub sources: the
#                          layer only changes with Cargo.toml / Cargo.lock
#   docker/build.sh app    build the real binary into $OUT/vieagent
#
# PROFILE (default release) and OUT (default /out) may be overridden.
set -euo pipefail
PROFILE=${PROFILE:-release}
OUT=${OUT:-/out}
# The [[bench]] targets the manifest names.
benches() {
  awk '/^\[\[bench\]\]/ { in_bench = 1; next }
       in_bench && /^name = / { gsub(/"/, "", $3); print $3; in_bench = 0 }' Cargo.toml
}

case "${1:-}" in
  deps)
    # cargo needs every target the manifest names to exist.
    mkdir -p src benches tests/it
    echo 'fn main() {}' > src/main.rs
    : > src/lib.rs
    for bench in $(benches); do
      [ -f "benches/$bench.rs" ] || echo 'fn main() {}' > "benches/$bench.rs"
    done
    echo 'fn main() {}' > tests/it/main.rs
    cargo build --locked --profile "$PROFILE" --bin vieagent
    rm -rf src benches tests
    ;;
  app)
    mkdir -p benches tests/it
    for bench in $(benches); do
      [ -f "benches/$bench.rs" ] || echo 'fn main() {}' > "benches/$bench.rs"
    done
    [ -f tests/it/main.rs ] || echo 'fn main() {}' > tests/it/main.rs
    # Newer than the stub build, whatever times COPY gave the sources.
    find src migrations -type f -exec touch {} +
    cargo build --locked --profile "$PROFILE" --bin vieagent
    dir=$PROFILE
    [ "$PROFILE" = dev ] && dir=debug
    mkdir -p "$OUT"
    cp "${CARGO_TARGET_DIR:-target}/$dir/vieagent" "$OUT/vieagent"
    "$OUT/vieagent" --version
    ;;
  *)
    echo "usage: $0 deps|app" >&2
    exit 2
    ;;
esac
