#!/usr/bin/env bash
# Soak benchmark (a script, not a CI test): the main example
# (examples/traffic.sql) unbounded at RATE events/s for SECONDS, sampling
# every 10 s from Weir's own /metrics: RSS, events/s read, the p50/p99 of
# window emission latency (watermark past a window's end -> its row out)
# and of per-batch operator time over that interval. Prints a Markdown
# table; a flat table is the result. Ends the run with SIGTERM and checks
# that it stops gracefully.
#
#   bash benches/soak.sh [SECONDS=1800] [RATE=50000] [WORKERS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL="${1:-1800}" RATE="${2:-50000}" WORKERS="${3:-2}"
EVENTS=0
source benches/lib.sh

# The main example, unbounded and at RATE; its terminal output is dropped.
sed -e "s/'rate' = '1000'/'rate' = '$RATE'/" -e "/'events' = '20000',/d" examples/traffic.sql > "$DATA/soak.sql"
grep -q "'rate' = '$RATE'" "$DATA/soak.sql"
exec python3 benches/soak.py "$WEIR" "$DATA/soak.sql" "$SECONDS_TOTAL" "$RATE" "$WORKERS"
