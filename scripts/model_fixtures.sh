#!/usr/bin/env bash
# Regenerates tests/fixtures/models/river_logistic.json: River's prequential
# accuracy on the generator's stream, the oracle of the test
# models::logistic_regression_matches_rivers_accuracy_on_the_generator.
# Run it after changing the generator. It builds weir, writes the stream with
# it, and runs River 0.26.1 through benches/models_baselines.py in the venv
# that benches/models.sh creates (~/.cache/weir/tools/baselines-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/weir/target}"
VENV="${WEIR_TOOLS:-$HOME/.cache/weir/tools}/baselines-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --only-binary=:all: river==0.26.1
fi
cargo build --release --locked --bin weir
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat > "$dir/gen.sql" <<SQL
CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '20000', 'rate' = '0', 'sensors' = '20', 'seed' = '11');
CREATE TABLE out WITH ('connector' = 'file', 'path' = '$dir/traffic.json', 'format' = 'json');
INSERT INTO out SELECT * FROM traffic;
SQL
"$CARGO_TARGET_DIR/release/weir" run "$dir/gen.sql" --workers 1 --quiet
result="$("$VENV/bin/python" benches/models_baselines.py --input "$dir/traffic.json" --only river)"
accuracy="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["accuracy"])' "$result")"
cat > tests/fixtures/models/river_logistic.json <<JSON
{
  "what": "River 0.26.1 preprocessing.StandardScaler() | linear_model.LogisticRegression() (River defaults: SGD 0.01, intercept_lr 0.01), prequential accuracy on the generator's stream, features speed, volume, occupancy, label congested",
  "generator": {"events": 20000, "sensors": 20, "seed": 11},
  "made_by": "scripts/model_fixtures.sh",
  "rows": 20000,
  "accuracy": $accuracy
}
JSON
echo "River accuracy $accuracy written to tests/fixtures/models/river_logistic.json"
