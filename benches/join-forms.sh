#!/usr/bin/env bash
# End-to-end benchmark of the window join and the join with a bounded table
# (issue 16), on the readings and labels files benches/joins.sh writes.
#
#   bash benches/join-forms.sh [EVENTS]
#
# 1. Window join: per sensor and 10 s tumbling window, the readings' count
#    and the labels' count, joined on window and sensor (two windowed
#    aggregates, Flink's window join).
# 2. Table join: every reading LEFT JOIN a 100-row sensors file (90 of the
#    100 sensors have a row), dimension enrichment.
# Each: Weir on 1 and 2 workers (best of 3, incl. start-up, max RSS), and
# DuckDB (pip) running the same query as a batch in the same run, with
# whether the two results are identical. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
if [ ! -s "bench-data/labels-$EVENTS.json" ]; then
  bash benches/joins.sh "$EVENTS" > /dev/null
fi
source benches/lib.sh
JSON="$DATA/traffic-$EVENTS.json"
LABELS="$DATA/labels-$EVENTS.json"
SENSORS="$DATA/sensors.json"
python3 - "$SENSORS" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for k in range(100):
        if k % 10 != 7:
            f.write(json.dumps({"sensor_id": k, "road": f"A{k % 7}", "lanes": 2 + k % 3}) + "\n")
PY
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb >/dev/null 2>&1

tables() {
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
CREATE TABLE sensors (sensor_id BIGINT, road VARCHAR, lanes BIGINT)
  WITH ('connector' = 'file', 'path' = '$SENSORS', 'format' = 'json');
SQL
}

WINDOW_SQL="SELECT s.sensor_id, CAST(s.window_start AS BIGINT) AS ws, s.n, c.m
FROM (SELECT window_start, window_end, sensor_id, count(*) AS n FROM TUMBLE(readings, ts, INTERVAL '10' SECOND)
      GROUP BY window_start, window_end, sensor_id) s
JOIN (SELECT window_start, window_end, sensor_id, count(*) AS m FROM TUMBLE(labels, ts, INTERVAL '10' SECOND)
      GROUP BY window_start, window_end, sensor_id) c
  ON s.window_start = c.window_start AND s.window_end = c.window_end AND s.sensor_id = c.sensor_id"
WINDOW_DUCK="SELECT s.sensor_id, s.ws, s.n, c.m
FROM (SELECT sensor_id, epoch_ms(ts::TIMESTAMP) // 10000 * 10000 AS ws, count(*) AS n FROM read_json('$JSON', format='newline_delimited') GROUP BY ALL) s
JOIN (SELECT sensor_id, epoch_ms(ts::TIMESTAMP) // 10000 * 10000 AS ws, count(*) AS m FROM read_json('$LABELS', format='newline_delimited') GROUP BY ALL) c
  ON s.sensor_id = c.sensor_id AND s.ws = c.ws"
TABLE_SQL="SELECT r.sensor_id, CAST(r.ts AS BIGINT) AS ts_ms, r.speed, s.lanes
FROM readings r LEFT JOIN sensors s ON r.sensor_id = s.sensor_id"
TABLE_DUCK="SELECT r.sensor_id, epoch_ms(r.ts::TIMESTAMP) AS ts_ms, r.speed, s.lanes
FROM read_json('$JSON', format='newline_delimited') r
LEFT JOIN read_json('$SENSORS', format='newline_delimited') s ON r.sensor_id = s.sensor_id"

# bench NAME INPUT_EVENTS INPUT_BYTES WEIR_QUERY DUCK_QUERY
bench() {
  local name="$1" weir_sql="$4" duck_sql="$5" tag
  EVENTS="$2" BYTES="$3"
  tag=$(echo "$name" | tr -c 'a-z' '-')
  { tables; echo "CREATE TABLE out WITH ('connector' = 'blackhole');"; echo "INSERT INTO out $weir_sql;"; } > "$DATA/$tag.sql"
  { tables; echo "CREATE TABLE out WITH ('connector' = 'file', 'path' = '$DATA/$tag-weir.csv', 'format' = 'csv');"; echo "INSERT INTO out $weir_sql;"; } > "$DATA/$tag-file.sql"
  cat > "$DATA/$tag-duck.py" <<PY
import duckdb, sys
con = duckdb.connect()
con.execute(f"SET threads={int(sys.argv[1])}")
con.execute("SET TimeZone='UTC'")
rows = con.execute("""$duck_sql""").fetchall()
if len(sys.argv) > 2:
    import csv
    with open(sys.argv[2], "w", newline="") as f:
        csv.writer(f).writerows(rows)
PY
  read -r s m < <(measure "$WEIR" run -q -w 1 "$DATA/$tag.sql"); row "$name, Weir 1 worker" "$s" "$m"
  read -r s m < <(measure "$WEIR" run -q -w 2 "$DATA/$tag.sql"); row "$name, Weir 2 workers" "$s" "$m"
  read -r s m < <(measure python3 "$DATA/$tag-duck.py" 1); row "$name, DuckDB (batch) 1 thread" "$s" "$m"
  read -r s m < <(measure python3 "$DATA/$tag-duck.py" 2); row "$name, DuckDB (batch) 2 threads" "$s" "$m"
  # File sinks append by default: start from an empty file.
  rm -f "$DATA/$tag-weir.csv"
  "$WEIR" run -q -w 2 "$DATA/$tag-file.sql"
  python3 "$DATA/$tag-duck.py" 2 "$DATA/$tag-duck.csv"
  python3 - "$DATA/$tag-weir.csv" "$DATA/$tag-duck.csv" "$name" >> "$DATA/join-forms-checks.txt" <<'PY'
import csv, sys
def cell(v):
    try:
        return round(float(v), 9)
    except ValueError:
        return v.lower()
def load(path, header):
    with open(path) as f:
        rows = list(csv.reader(f))
    rows = rows[1:] if header else rows
    # An empty CSV cell and Python's None are both NULL.
    return sorted(tuple(cell(c) if c != "" else "null" for c in r) for r in rows)
weir, duck = load(sys.argv[1], True), load(sys.argv[2], False)
print(f"{sys.argv[3]}: Weir {len(weir)} rows, DuckDB {len(duck)} rows, identical: {weir == duck}")
PY
}

R_BYTES=$(stat -c %s "$JSON")
L_BYTES=$(stat -c %s "$LABELS")
S_BYTES=$(stat -c %s "$SENSORS")
S_ROWS=$(wc -l < "$SENSORS")
rm -f "$DATA/join-forms-checks.txt"
echo "| run | seconds (best of 3, incl. start-up) | events/s (all inputs) | input MB/s | max RSS MiB |"
echo "|---|---|---|---|---|"
bench "window join of two 10 s aggregates" $((EVENTS * 2)) $((R_BYTES + L_BYTES)) "$WINDOW_SQL" "$WINDOW_DUCK"
bench "readings LEFT JOIN sensors table" $((EVENTS + S_ROWS)) $((R_BYTES + S_BYTES)) "$TABLE_SQL" "$TABLE_DUCK"
echo
cat "$DATA/join-forms-checks.txt"
