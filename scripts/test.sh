#!/usr/bin/env bash
# Runs Weir's whole test suite on a fresh machine: installs and starts what
# the tests need, then runs every test (unit, integration, doc, bench smoke).
#
# Build outputs go to $CARGO_TARGET_DIR (default: ~/.cache/weir/target),
# outside the clone, so a second run in a fresh clone reuses the compiled
# dependency tree. Everything is built once, in the release profile: the
# benchmarks and the main job need it, and building debug too would compile
# the dependency tree twice.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/weir/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Two cores: let cargo use both, and keep test threads from oversubscribing.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"

echo "==> weir tests (target dir: $CARGO_TARGET_DIR)"
cargo --version

# Unit, integration and bench-smoke tests (criterion benches run once each).
cargo test --release --workspace --all-targets --locked
# Doc tests (README and public API examples).
cargo test --release --workspace --doc --locked
