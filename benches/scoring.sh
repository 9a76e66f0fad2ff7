#!/usr/bin/env bash
# Event-time scoring benchmark (issue 17: reproducible predictions).
#
#   bash benches/scoring.sh [EVENTS]
#
# EVENTS (default 200,000) generated traffic events as JSON lines (100
# sensors, up to 2 s out of order, a 3 s watermark): a per-sensor logistic
# regression with a standard scaler learns from every event and scores
# every event into a blackhole, with 'scoring' = 'latest' (the baseline:
# each row scored at once by the model as it is) and 'scoring' =
# 'event-time' (each row scored, once the watermark passes it, by the model
# of the training rows before it), on 1 and 2 workers, in the same run.
# Prints Markdown for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-200000}"
source benches/lib.sh
JSON="$DATA/traffic-$EVENTS.json"
generated_json "$JSON"
BYTES=$(stat -c %s "$JSON")

pipeline() { # scoring
  cat <<SQL
CREATE TABLE traffic (
  sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL,
  volume BIGINT NOT NULL, occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '3' SECOND
) WITH ('connector' = 'file', 'path' = '$JSON', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
CREATE MODEL m INPUT (speed DOUBLE, volume DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'scaler' = 'standard', 'device' = 'cpu', 'partition_by' = 'sensor_id', 'scoring' = '$1');
INSERT INTO m SELECT sensor_id, ts, speed, CAST(volume AS DOUBLE) AS volume, occupancy, congested FROM traffic;
CREATE VIEW features AS SELECT sensor_id, ts, speed, CAST(volume AS DOUBLE) AS volume, occupancy FROM traffic;
INSERT INTO out SELECT sensor_id, ts, prediction, probability
  FROM ML_PREDICT(TABLE features, MODEL m, DESCRIPTOR(speed, volume, occupancy));
SQL
}

echo "$EVENTS events ($((BYTES / 1000000)) MB of JSON), a per-sensor model learning from and scoring every event"
echo
echo "| run | seconds (best of 3, incl. start-up) | events/s | input MB/s | max RSS MiB |"
echo "|---|---|---|---|---|"
for scoring in latest event-time; do
  pipeline "$scoring" > "$DATA/scoring-$scoring.sql"
  for workers in 1 2; do
    read -r secs rss < <(measure "$WEIR" run -q -w "$workers" --metrics-addr off "$DATA/scoring-$scoring.sql")
    row "'scoring' = '$scoring', $workers worker(s)" "$secs" "$rss"
  done
done
