#!/usr/bin/env bash
# The Nexmark benchmark (issue 16): the queries Weir can express, on Weir's
# `nexmark` source (1 and 2 workers, best of 3, start-up included, max RSS)
# and, side by side in the same run, on PyFlink 1.20 (pip, Java 17) and
# Weir reading the same events from JSON files, with whether their rows
# are identical. Prints the Markdown table of docs/benchmarks.md.
#
#   bash benches/nexmark.sh [EVENTS [SIDE_EVENTS]] [QUERY...]
#
# EVENTS (default 10,000,000) counts events of all three types (Nexmark's
# convention: 2% people, 6% auctions, 92% bids) for Weir's own rates;
# SIDE_EVENTS (default EVENTS / 10) for the side-by-side runs from files.
# PyFlink is installed once into ~/.cache/weir/tools/pyflink;
# WEIR_NEXMARK_FLINK=- skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=10000000
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then EVENTS="$1"; shift; fi
SIDE=$((EVENTS / 10))
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then SIDE="$1"; shift; fi
source benches/lib.sh
FLINK_PYTHON="${WEIR_NEXMARK_FLINK:-}"
if [ -z "$FLINK_PYTHON" ]; then
  VENV="$HOME/.cache/weir/tools/pyflink"
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pyflink' 2>/dev/null; then
    echo "==> installing PyFlink 1.20.1 into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'apache-flink==1.20.1'
  fi
  FLINK_PYTHON="$VENV/bin/python"
fi
echo "Nexmark, $EVENTS events (side by side: $SIDE), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1))"
python3 benches/nexmark/run.py "$WEIR" "$EVENTS" "$SIDE" "$PWD/$DATA" "$FLINK_PYTHON" "$@"
