#!/usr/bin/env bash
# Online learning benchmark (issue: models and kernels).
#
#   bash benches/models.sh [EVENTS]
#
# The same EVENTS (default 200,000) generated traffic events, as JSON lines,
# go through prequential (test-then-train) logistic regression with a
# standard scaler (River's defaults: SGD at 0.01) on 3 features (speed,
# volume, occupancy) predicting `congested`:
# 1. River 0.26.1 (StandardScaler | LogisticRegression) and Vowpal Wabbit
#    9.11.9 (logistic loss), installed from PyPI into a venv outside the
#    clone; only their learning loops are timed (benches/models_baselines.py).
# 2. Weir's kernels alone on the same rows (parsing excluded):
#    kernels/examples/prequential.rs.
# 3. Weir end to end from the JSON file (`weir run`, 1 worker, decode +
#    train), best of 3, with one global model and with one model per sensor.
# Prints Markdown for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-200000}"
source benches/lib.sh
JSON="$DATA/traffic-$EVENTS.json"
generated_json "$JSON"
BYTES=$(stat -c %s "$JSON")

VENV="${WEIR_TOOLS:-$HOME/.cache/weir/tools}/baselines-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import river, vowpalwabbit' 2>/dev/null; then
  echo "==> installing River and Vowpal Wabbit into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --only-binary=:all: 'river==0.26.1' 'vowpalwabbit==9.11.9'
fi

CSV="$DATA/traffic-$EVENTS.csv"
python3 - "$JSON" "$CSV" <<'PY'
import json, sys
with open(sys.argv[1]) as src, open(sys.argv[2], "w") as dst:
    for line in src:
        r = json.loads(line)
        dst.write(f"{r['speed']},{r['volume']},{r['occupancy']},{int(r['congested'])}\n")
PY

# The kernels-alone runner (only weir-kernels: no DataFusion in its build).
cargo build --release --locked -p weir-kernels --example prequential >&2
RESULTS="$DATA/models-results.jsonl"
"$VENV/bin/python" benches/models_baselines.py --input "$JSON" > "$RESULTS"
for _ in 1 2 3; do "$CARGO_TARGET_DIR/release/examples/prequential" "$CSV"; done >> "$RESULTS"

pipeline() { # extra model options
  cat <<SQL
CREATE TABLE traffic (
  sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL,
  volume BIGINT NOT NULL, occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL
) WITH ('connector' = 'file', 'path' = '$JSON', 'format' = 'json');
CREATE MODEL m INPUT (speed DOUBLE, volume DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'scaler' = 'standard', 'device' = 'cpu'$1);
INSERT INTO m SELECT sensor_id, speed, CAST(volume AS DOUBLE) AS volume, occupancy, congested FROM traffic;
SQL
}
pipeline "" > "$DATA/models-global.sql"
pipeline ", 'partition_by' = 'sensor_id'" > "$DATA/models-keyed.sql"
for kind in global keyed; do
  read -r secs rss < <(measure "$WEIR" run -q -w 1 "$DATA/models-$kind.sql")
  acc=$("$WEIR" run -q -w 1 "$DATA/models-$kind.sql" 2>&1 | sed -n 's/.*prequential accuracy \([0-9.]*\).*/\1/p')
  python3 -c "import json,sys; print(json.dumps({'baseline': 'weir end to end ($kind, 1 worker)', 'rows': $EVENTS, 'seconds': $secs, 'rows_per_s': round($EVENTS / $secs), 'accuracy': float('$acc'), 'rss_kib': $rss}))" >> "$RESULTS"
done

python3 - "$RESULTS" "$EVENTS" "$BYTES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best = {}
for r in rows:  # best of the repeated runs per baseline
    k = r["baseline"]
    if k not in best or r["rows_per_s"] > best[k]["rows_per_s"]:
        best[k] = r
river = best.get("river", {}).get("rows_per_s")
vw = best.get("vw", {}).get("rows_per_s")
print(f"{sys.argv[2]} events ({int(sys.argv[3]) / 1e6:.1f} MB of JSON), 3 features, prequential logistic regression\n")
print("| what | rows/s | × River | × VW | prequential accuracy |")
print("|---|---:|---:|---:|---:|")
for k, r in best.items():
    x = lambda base: f"{r['rows_per_s'] / base:.1f}" if base else "-"
    print(f"| {k} | {r['rows_per_s']:,.0f} | {x(river)} | {x(vw)} | {r['accuracy']:.4f} |")
PY
