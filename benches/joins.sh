#!/usr/bin/env bash
# End-to-end interval-join benchmark (issue 16: stream joins).
#
#   bash benches/joins.sh [EVENTS]
#
# The production pattern of online learning: EVENTS generated readings
# (100 sensors, up to 2 s out of order; the file benches/stateless.sh
# writes) joined with their EVENTS labels, which arrive 2.5 to 5 s later on
# a second stream, on sensor_id and the reading's time, within 10 s.
# 1. Weir on 1 and 2 workers, best of 3, wall clock incl. start-up, max RSS;
#    events/s counts both inputs' rows.
# 2. DuckDB (pip) runs the same join as a batch query on the same files in
#    the same run: time, and whether its result equals Weir's.
# Prints Markdown for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
source benches/lib.sh
JSON="$DATA/traffic-$EVENTS.json"
LABELS="$DATA/labels-$EVENTS.json"
generated_json "$JSON"
if [ ! -s "$LABELS" ]; then
  cat > "$DATA/make-labels.sql" <<SQL
CREATE TABLE labels WITH ('connector' = 'generator', 'events' = '$EVENTS', 'sensors' = '100', 'disorder_ms' = '2000',
  'stream' = 'labels', 'label_delay_ms' = '5000');
CREATE TABLE out WITH ('connector' = 'file', 'path' = '$LABELS', 'format' = 'json');
INSERT INTO out SELECT * FROM labels;
SQL
  "$WEIR" run -q -w 1 "$DATA/make-labels.sql"
fi
BYTES=$(( $(stat -c %s "$JSON") + $(stat -c %s "$LABELS") ))

pipeline() { # sink-connector-options
  cat <<SQL
CREATE TABLE readings (
  sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL,
  volume BIGINT NOT NULL, occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '3' SECOND
) WITH ('connector' = 'file', 'path' = '$JSON', 'format' = 'json');
CREATE TABLE labels (
  sensor_id BIGINT NOT NULL, reading_ts TIMESTAMP NOT NULL, ts TIMESTAMP NOT NULL, congested BOOLEAN NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = '$LABELS', 'format' = 'json');
CREATE TABLE out WITH ($1);
INSERT INTO out
SELECT r.sensor_id, CAST(r.ts AS BIGINT) AS ts_ms, r.speed, l.congested
FROM readings r JOIN labels l
  ON r.sensor_id = l.sensor_id AND l.reading_ts = r.ts AND l.ts BETWEEN r.ts AND r.ts + INTERVAL '10' SECOND;
SQL
}
pipeline "'connector' = 'blackhole'" > "$DATA/joins.sql"
pipeline "'connector' = 'file', 'path' = '$DATA/joins-weir.csv', 'format' = 'csv'" > "$DATA/joins-file.sql"
# Two inputs of EVENTS rows each.
EVENTS=$((EVENTS * 2))

echo "| run | seconds (best of 3, incl. start-up) | events/s (both inputs) | input MB/s | max RSS MiB |"
echo "|---|---|---|---|---|"
read -r s m < <(measure "$WEIR" run -q -w 1 "$DATA/joins.sql"); row "readings JOIN labels within 10 s, 1 worker" "$s" "$m"
read -r s m < <(measure "$WEIR" run -q -w 2 "$DATA/joins.sql"); row "same, 2 workers" "$s" "$m"
# File sinks append by default: start from an empty file.
rm -f "$DATA/joins-weir.csv"
"$WEIR" run -q -w 2 "$DATA/joins-file.sql"

if python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb >/dev/null 2>&1; then
  cat > "$DATA/duck-joins.py" <<PY
import duckdb, sys
con = duckdb.connect()
con.execute(f"SET threads={int(sys.argv[1])}")
con.execute("SET TimeZone='UTC'")
rows = con.execute("""
  SELECT r.sensor_id, epoch_ms(r.ts::TIMESTAMP) AS ts_ms, r.speed, l.congested
  FROM read_json('$JSON', format='newline_delimited') r
  JOIN read_json('$LABELS', format='newline_delimited') l
    ON r.sensor_id = l.sensor_id AND l.reading_ts::TIMESTAMP = r.ts::TIMESTAMP
   AND l.ts::TIMESTAMP BETWEEN r.ts::TIMESTAMP AND r.ts::TIMESTAMP + INTERVAL '10 seconds'""").fetchall()
if len(sys.argv) > 2:
    import csv
    with open(sys.argv[2], "w", newline="") as f:
        csv.writer(f).writerows(rows)
PY
  echo
  echo "| baseline | seconds (best of 3, incl. start-up) | events/s (both inputs) | input MB/s | max RSS MiB |"
  echo "|---|---|---|---|---|"
  read -r s m < <(measure python3 "$DATA/duck-joins.py" 1); row "DuckDB same join (batch), 1 thread" "$s" "$m"
  read -r s m < <(measure python3 "$DATA/duck-joins.py" 2); row "DuckDB same join (batch), 2 threads" "$s" "$m"
  python3 "$DATA/duck-joins.py" 2 "$DATA/joins-duck.csv"
  python3 - "$DATA/joins-weir.csv" "$DATA/joins-duck.csv" <<'PY'
import csv, sys
def load(path, header):
    with open(path) as f:
        rows = list(csv.reader(f))
    rows = rows[1:] if header else rows
    return sorted((int(r[0]), int(r[1]), round(float(r[2]), 9), r[3].lower()) for r in rows)
weir, duck = load(sys.argv[1], True), load(sys.argv[2], False)
print()
print(f"Result check: Weir {len(weir)} rows, DuckDB {len(duck)} rows, identical: {weir == duck}")
PY
fi
