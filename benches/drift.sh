#!/usr/bin/env bash
# Drift-detector benchmark (issue: drift detection).
#
#   bash benches/drift.sh
#
# 100,000 0/1 errors (rate 0.2, then 0.6 from the middle; seeded), written
# once; River 0.26.1's ADWIN, PageHinkley and DDM time their update loops on
# it (venv from benches/models.sh), then Weir's detectors run on the same
# file (criterion). Prints both; docs/benchmarks.md has the table.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/weir/target}"
VENV="${WEIR_TOOLS:-$HOME/.cache/weir/tools}/baselines-venv"
[ -x "$VENV/bin/python" ] || { echo "run benches/models.sh first (it creates $VENV)" >&2; exit 1; }
mkdir -p bench-data
SEQ=bench-data/drift-seq.txt
"$VENV/bin/python" - "$SEQ" <<'PY'
import random, sys, time
from river import drift
rng = random.Random(7)
xs = [int(rng.random() < (0.2 if i < 50_000 else 0.6)) for i in range(100_000)]
open(sys.argv[1], "w").write("\n".join(map(str, xs)) + "\n")
for name, make in [("adwin", drift.ADWIN), ("page_hinkley", drift.PageHinkley), ("ddm", drift.binary.DDM)]:
    best = None
    for _ in range(3):
        d, fired = make(), 0
        t = time.perf_counter()
        for x in xs:
            d.update(x)
            fired += d.drift_detected
        t = time.perf_counter() - t
        best = t if best is None else min(best, t)
    print(f"river {name}: {len(xs) / best:,.0f} updates/s ({fired} detections)")
PY
cargo test --release --workspace --all-targets --locked --no-run >&2
BENCH=$(ls -t "$CARGO_TARGET_DIR"/release/deps/detectors-* | grep -v '\.d$' | head -1)
WEIR_DRIFT_SEQ="$SEQ" "$BENCH" --bench --warm-up-time 1 --measurement-time 3 2>&1 | grep -E "^drift detectors|thrpt:"
