#!/usr/bin/env bash
# End-to-end keyed tumbling-window benchmark (issue: event-time windows).
#
#   bash benches/windows.sh [EVENTS]
#
# Nexmark-style: 10-second tumbling windows, GROUP BY sensor (100 sensors),
# count / avg / max, over EVENTS (default 1,000,000) generated traffic events
# as JSON lines (the same file benches/stateless.sh writes; events up to 2 s
# out of order, watermark bound 3 s).
# 1. Weir on 1 and 2 workers, best of 3, wall clock incl. start-up, max RSS.
# 2. Weir's own report of window emission latency (from the watermark
#    passing window_end to the row leaving the window operator), p50/p99.
# 3. DuckDB (pip) on the same file in the same run: time, and whether its
#    result is identical to Weir's.
# Prints Markdown for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
source benches/lib.sh
JSON="$DATA/traffic-$EVENTS.json"
generated_json "$JSON"
BYTES=$(stat -c %s "$JSON")

pipeline() { # sink-connector-options
  cat <<SQL
CREATE TABLE traffic (
  sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL,
  volume BIGINT NOT NULL, occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '3' SECOND
) WITH ('connector' = 'file', 'path' = '$JSON', 'format' = 'json');
CREATE TABLE out WITH ($1);
INSERT INTO out
SELECT CAST(window_start AS BIGINT) AS window_start_ms, sensor_id,
       count(*) AS n, avg(speed) AS avg_speed, max(speed) AS max_speed
FROM TUMBLE(traffic, ts, INTERVAL '10' SECOND)
GROUP BY window_start, window_end, sensor_id;
SQL
}
pipeline "'connector' = 'blackhole'" > "$DATA/windows.sql"
pipeline "'connector' = 'file', 'path' = '$DATA/windows-weir.csv', 'format' = 'csv'" > "$DATA/windows-file.sql"

echo "| run | seconds (best of 3, incl. start-up) | events/s | input MB/s | max RSS MiB |"
echo "|---|---|---|---|---|"
read -r s m < <(measure "$WEIR" run -q -w 1 "$DATA/windows.sql"); row "JSON -> 10 s tumbling count/avg/max per sensor, 1 worker" "$s" "$m"
read -r s m < <(measure "$WEIR" run -q -w 2 "$DATA/windows.sql"); row "same, 2 workers" "$s" "$m"

echo
for w in 1 2; do
  printf 'Weir, %s worker(s): ' "$w"
  "$WEIR" run -w "$w" "$DATA/windows.sql" 2>&1 >/dev/null | grep -E "windows emitted|behind its watermark" | sed 's/^weir: //' | tr '\n' ' '
  echo
done
# File sinks append by default: start from an empty file.
rm -f "$DATA/windows-weir.csv"
"$WEIR" run -q -w 2 "$DATA/windows-file.sql"

if python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb >/dev/null 2>&1; then
  cat > "$DATA/duck-windows.py" <<PY
import duckdb, sys
con = duckdb.connect()
con.execute(f"SET threads={int(sys.argv[1])}")
con.execute("SET TimeZone='UTC'")
rows = con.execute("""
  SELECT epoch_ms(time_bucket(INTERVAL '10 seconds', ts::TIMESTAMP)) AS window_start_ms, sensor_id,
         count(*) AS n, avg(speed) AS avg_speed, max(speed) AS max_speed
  FROM read_json('$JSON', format='newline_delimited')
  GROUP BY ALL""").fetchall()
if len(sys.argv) > 2:
    import csv
    with open(sys.argv[2], "w", newline="") as f:
        csv.writer(f).writerows(rows)
PY
  echo
  echo "| baseline | seconds (best of 3, incl. start-up) | events/s | input MB/s | max RSS MiB |"
  echo "|---|---|---|---|---|"
  read -r s m < <(measure python3 "$DATA/duck-windows.py" 1); row "DuckDB same aggregate, 1 thread" "$s" "$m"
  read -r s m < <(measure python3 "$DATA/duck-windows.py" 2); row "DuckDB same aggregate, 2 threads" "$s" "$m"
  python3 "$DATA/duck-windows.py" 2 "$DATA/windows-duck.csv"
  python3 - "$DATA/windows-weir.csv" "$DATA/windows-duck.csv" <<'PY'
import csv, sys
def load(path, header):
    with open(path) as f:
        r = csv.reader(f)
        if header:
            next(r)
        return sorted((int(a), int(b), int(c), round(float(d), 9), float(e)) for a, b, c, d, e in r)
weir, duck = load(sys.argv[1], True), load(sys.argv[2], False)
same = weir == duck
print(f"\nResults: Weir {len(weir)} rows, DuckDB {len(duck)} rows, identical (avg to 9 decimals): {same}")
PY
else
  echo "(DuckDB could not be installed; no baseline this run)"
fi
