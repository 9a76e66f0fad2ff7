#!/usr/bin/env bash
# End-to-end stateless benchmark (issue: foundation).
#
#   bash benches/stateless.sh [EVENTS]
#
# 1. Writes EVENTS (default 1,000,000) generated traffic events as JSON lines
#    (about 113 MB for 1M) with Weir's own generator -> file sink.
# 2. Times the generator alone (generator -> blackhole).
# 3. Times JSON file -> filter + projection -> blackhole on 1 and 2 workers.
# 4. Runs the same filter + projection in DuckDB (pip) on the same file in the
#    same run, as the batch baseline, when DuckDB can be installed.
# Prints a Markdown table for docs/benchmarks.md. Each run is repeated 3
# times and the best is reported (the machines are shared and noisy).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
source benches/lib.sh
JSON="$DATA/traffic-$EVENTS.json"
generated_json "$JSON"
BYTES=$(stat -c %s "$JSON")

cat > "$DATA/generator.sql" <<SQL
CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '$EVENTS', 'sensors' = '100');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM traffic;
SQL
cat > "$DATA/stateless.sql" <<SQL
CREATE TABLE traffic (
  sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL,
  volume BIGINT NOT NULL, occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL
) WITH ('connector' = 'file', 'path' = '$JSON', 'format' = 'json');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT sensor_id, ts, speed * 0.621371 AS speed_mph, occupancy * 100 AS occupancy_pct,
       CASE WHEN occupancy > 0.3 THEN 'jam' ELSE 'flow' END AS level
FROM traffic WHERE speed > 50;
SQL

echo "| run | seconds (best of 3, incl. start-up) | events/s | input MB/s | max RSS MiB |"
echo "|---|---|---|---|---|"
read -r s m < <(measure "$WEIR" run -q -w 1 "$DATA/generator.sql"); row "generator -> blackhole, 1 worker" "$s" "$m"
read -r s m < <(measure "$WEIR" run -q -w 2 "$DATA/generator.sql"); row "generator -> blackhole, 2 workers" "$s" "$m"
read -r s m < <(measure "$WEIR" run -q -w 1 "$DATA/stateless.sql"); row "JSON file -> filter+project -> blackhole, 1 worker" "$s" "$m"
read -r s m < <(measure "$WEIR" run -q -w 2 "$DATA/stateless.sql"); row "JSON file -> filter+project -> blackhole, 2 workers" "$s" "$m"

if python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb >/dev/null 2>&1; then
  cat > "$DATA/duck.py" <<PY
import duckdb, sys
threads = int(sys.argv[1])
con = duckdb.connect()
con.execute(f"SET threads={threads}")
con.execute("""SELECT count(*) FROM (
  SELECT sensor_id, ts, speed * 0.621371 AS speed_mph, occupancy * 100 AS occupancy_pct,
         CASE WHEN occupancy > 0.3 THEN 'jam' ELSE 'flow' END AS level
  FROM read_json('$JSON', format='newline_delimited') WHERE speed > 50)""").fetchall()
PY
  read -r s m < <(measure python3 "$DATA/duck.py" 1); row "DuckDB same query, 1 thread (baseline)" "$s" "$m"
  read -r s m < <(measure python3 "$DATA/duck.py" 2); row "DuckDB same query, 2 threads (baseline)" "$s" "$m"
else
  echo "(DuckDB could not be installed; no baseline this run)"
fi
