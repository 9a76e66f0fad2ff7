#!/usr/bin/env bash
# Runs Weir's whole test suite on a fresh machine: installs and starts what
# the tests need, then runs every test (unit, integration, doc, bench smoke).
#
# Everything is built once, in the release profile, with the same features
# as the README's main job (`cargo run --release`): the benchmarks and the
# main job need release, and building debug too would compile the
# dependency tree twice. Build outputs go to $CARGO_TARGET_DIR; by default
# that is the clone's own `target/` when the main job has already built it
# there (the README's order: the main job, then the tests), and otherwise
# ~/.cache/weir/target, outside the clone, so that a fresh clone (CI)
# reuses the dependency tree compiled by the previous one.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ -d target/release/deps ]; then
    export CARGO_TARGET_DIR="$PWD/target"
  else
    export CARGO_TARGET_DIR="$HOME/.cache/weir/target"
  fi
fi
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Two cores: let cargo use both, and keep test threads from oversubscribing.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"

echo "==> weir tests (target dir: $CARGO_TARGET_DIR)"
cargo --version

# The Kafka tests talk to a real Kafka-protocol broker, tansu (crates.io),
# which each test starts on a free loopback port, and check what Weir wrote
# with an independent client, Python's confluent-kafka (PyPI). Both are
# installed once and cached outside the clone (about 17 minutes cold for tansu, with its crates downloaded).
source scripts/tansu.sh
PYTHON="${WEIR_PYTHON:-python3}"
if ! "$PYTHON" -c 'import confluent_kafka, fastavro' 2>/dev/null; then
  echo "==> installing confluent-kafka and fastavro (Python) for the Kafka tests"
  "$PYTHON" -m pip install --quiet 'confluent-kafka==2.16.1' 'fastavro==1.12.1' \
    || "$PYTHON" -m pip install --quiet --break-system-packages 'confluent-kafka==2.16.1' 'fastavro==1.12.1'
fi
export WEIR_PYTHON="$PYTHON"

# The S3 checkpoint test keeps checkpoints in moto's S3-compatible server
# (PyPI), which it starts on a free loopback port.
if ! "$PYTHON" -c 'import moto.server, flask_cors' 2>/dev/null; then
  echo "==> installing moto's S3 server (Python) for the S3 checkpoint test"
  "$PYTHON" -m pip install --quiet 'moto[server]==5.2.1' \
    || "$PYTHON" -m pip install --quiet --break-system-packages 'moto[server]==5.2.1'
fi

# The metrics test scrapes Weir with a real Prometheus server: Debian's
# package, unpacked (no root, no service) into the tools cache.
PROMETHEUS="$TOOLS/prometheus/prometheus"
if [ ! -x "$PROMETHEUS" ]; then
  echo "==> fetching Debian's prometheus into $TOOLS/prometheus"
  tmp="$(mktemp -d)"
  (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }; } && dpkg -x prometheus_*.deb x)
  mkdir -p "$TOOLS/prometheus"
  cp "$tmp/x/usr/bin/prometheus" "$PROMETHEUS"
  rm -rf "$tmp"
fi
export WEIR_PROMETHEUS="$PROMETHEUS"

# NVRTC (PyPI's nvidia-cuda-nvrtc) lets the kernel tests compile every CUDA
# source to PTX on a machine without a GPU, so a kernel that does not
# compile fails here. WEIR_REQUIRE_NVRTC turns that test's "skipped" into a
# failure if the library still cannot be loaded.
NVRTC="$TOOLS/nvrtc"
if [ ! -e "$NVRTC/nvidia/cu13/lib/libnvrtc.so.13" ]; then
  echo "==> installing NVRTC (nvidia-cuda-nvrtc) into $NVRTC"
  "$PYTHON" -m pip install --quiet --no-deps --target "$NVRTC" 'nvidia-cuda-nvrtc==13.5.37'
fi
export LD_LIBRARY_PATH="$NVRTC/nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export WEIR_REQUIRE_NVRTC=1

# The main job and the tests must compile one dependency tree: the features
# the tests' dev-dependencies turn on must also be asked for by the normal
# ones (engine/Cargo.toml lists them). A difference rebuilds DataFusion.
features() { cargo tree --workspace --locked -e "$1" -f '{p} [{f}]' --prefix none | sed 's/ (\*)//' | sort -u; }
shared_differ="$(comm -23 <(features normal,build) <(features normal,build,dev))"
if [ -n "$shared_differ" ]; then
  echo "error: these crates get other features in the test build than in 'cargo run', so the dependency tree would be built twice:" >&2
  echo "$shared_differ" >&2
  exit 1
fi

# Unit, integration and bench-smoke tests (criterion benches run once
# each); the integration tests also plan every SQL example of the README
# and replay the fuzz corpora (fuzz/corpus) as regression tests.
cargo test --release --workspace --all-targets --locked
# Doc tests (public API examples).
cargo test --release --workspace --doc --locked
# Lints, as errors.
cargo clippy --release --workspace --all-targets --locked -- -D warnings
