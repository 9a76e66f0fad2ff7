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

# The Kafka tests talk to a real Kafka-protocol broker, tansu (crates.io),
# which each test starts on a free loopback port, and check what Weir wrote
# with an independent client, Python's confluent-kafka (PyPI). Both are
# installed once and cached outside the clone (~9 minutes for tansu).
source scripts/tansu.sh
PYTHON="${WEIR_PYTHON:-python3}"
if ! "$PYTHON" -c 'import confluent_kafka, fastavro' 2>/dev/null; then
  echo "==> installing confluent-kafka and fastavro (Python) for the Kafka tests"
  "$PYTHON" -m pip install --quiet 'confluent-kafka==2.16.1' 'fastavro==1.12.1' \
    || "$PYTHON" -m pip install --quiet --break-system-packages 'confluent-kafka==2.16.1' 'fastavro==1.12.1'
fi
export WEIR_PYTHON="$PYTHON"

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

# Unit, integration and bench-smoke tests (criterion benches run once each).
cargo test --release --workspace --all-targets --locked
# Doc tests (README and public API examples).
cargo test --release --workspace --doc --locked
