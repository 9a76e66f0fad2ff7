#!/usr/bin/env bash
# The cost of consistent checkpoints (issue: checkpoints).
#
#   bash benches/checkpoints.sh [EVENTS [KEYS...]]
#
# Q2 of the window bench (10 s tumbling windows, count/avg/max per key)
# over EVENTS generated events (default 100,000,000; generated in the
# pipeline, so the run is long enough for checkpoints to happen), on 2
# workers, with checkpoints off, every 10 s, every 1 s and every 100 ms:
# wall time (best of 3), events/s, window latency p50/p99 (Weir's own
# report), checkpoints written, and max RSS. Then, per number of keys
# (default 100 10000 1000000), the size and duration of the largest
# checkpoint of a run checkpointing every 500 ms (its state is the open
# windows), and the recovery time: a run resuming from the final
# checkpoint of a finished run (reading nothing) against a run of an empty
# pipeline. Prints Markdown for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-100000000}"
shift || true
KEYS=("${@:-100 10000 1000000}")
# shellcheck disable=SC2206
KEYS=(${KEYS[*]})
BYTES=0
source benches/lib.sh

pipeline() { # events keys settings
  cat <<SQL
$3
CREATE TABLE traffic (
  sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL,
  volume BIGINT NOT NULL, occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '3' SECOND
) WITH ('connector' = 'generator', 'events' = '$1', 'sensors' = '$2', 'disorder_ms' = '2000');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT window_start, sensor_id, count(*) AS n, avg(speed) AS avg_speed, max(speed) AS max_speed
FROM TUMBLE(traffic, ts, INTERVAL '10' SECOND)
GROUP BY window_start, window_end, sensor_id;
SQL
}
settings() { # interval dir retained
  printf "SET 'execution.checkpointing.interval' = '%s';\nSET 'state.checkpoints.dir' = '%s';\nSET 'state.checkpoints.num-retained' = '%s';\n" "$1" "$2" "$3"
}

echo "| checkpoints | seconds (best of 3) | events/s | vs off | window latency p50 / p99 ms | checkpoints written | max RSS MiB |"
echo "|---|---|---|---|---|---|---|"
base=""
for interval in off "10 s" "1 s" "100 ms"; do
  dir="$DATA/checkpoints-bench"
  rm -rf "$dir"
  if [ "$interval" = off ]; then pipeline "$EVENTS" 100 "" > "$DATA/cp.sql"; else pipeline "$EVENTS" 100 "$(settings "$interval" "$dir" 1)" > "$DATA/cp.sql"; fi
  # Every measured run starts fresh.
  read -r s m < <(measure "$WEIR" run -q -w 2 --fresh "$DATA/cp.sql")
  [ -z "$base" ] && base="$s"
  report=$("$WEIR" run -w 2 --fresh "$DATA/cp.sql" 2>&1 >/dev/null)
  latency=$(echo "$report" | grep -oE 'emitted [0-9.]+ ms \(p50\), [0-9.]+ ms \(p99\)' | head -1 | sed -E 's/emitted ([0-9.]+) ms \(p50\), ([0-9.]+) ms \(p99\)/\1 \/ \2/')
  written=$(echo "$report" | grep -oE 'wrote [0-9]+ checkpoint' | grep -oE '[0-9]+' || echo 0)
  awk -v n="$interval" -v s="$s" -v b="$base" -v e="$EVENTS" -v l="${latency:-?}" -v w="${written:-0}" -v m="$m" \
    'BEGIN{printf "| %s | %.3f | %.0f | %.3f | %s | %s | %.0f |\n", n, s, e/s, s/b, l, w, m/1024}'
done

echo
echo "| keys | events | largest checkpoint bytes | its duration ms | checkpoints | whole run s | resume from the largest and finish s | events left at it |"
echo "|---|---|---|---|---|---|---|---|"
for keys in "${KEYS[@]}"; do
  dir="$DATA/checkpoints-size"
  again="$DATA/checkpoints-resume"
  rm -rf "$dir" "$again"
  events=$(( keys * 20 > 20000000 ? keys * 20 : 20000000 ))
  pipeline "$events" "$keys" "$(settings "100 ms" "$dir" 100000)" > "$DATA/cp-size.sql"
  read -r whole _ < <(python3 -c 'import subprocess,sys,time; t=time.perf_counter(); subprocess.run(sys.argv[1:],check=True); print(f"{time.perf_counter()-t:.3f} 0")' "$WEIR" run -q -w 2 "$DATA/cp-size.sql")
  read -r bytes ms count id < <("$WEIR" checkpoints "$dir" | python3 -c '
import re, sys
rows = [(int(m.group(2)), int(m.group(3)), int(m.group(1))) for m in (re.search(r"checkpoint (\d+): completed .*, (\d+) bytes of state, .* took (\d+) ms", l) for l in sys.stdin) if m]
big = max(rows) if rows else (0, 0, 0)
print(big[0], big[1], len(rows), big[2])')
  # Recovery: a directory holding only the largest checkpoint; the run
  # restores it and reads the rest of the stream.
  mkdir -p "$again"
  cp -r "$dir/chk-$(printf %010d "$id")" "$again/"
  left=$("$WEIR" checkpoints "$again" | grep -oE "event [0-9]+" | awk -v e="$events" '{done += $2} END {print int(e - done / 2)}')
  # Each worker's position is the next event of its own chunks: the events
  # left are roughly the stream minus what both workers passed.
  sed "s|$dir|$again|" "$DATA/cp-size.sql" > "$DATA/cp-resume.sql"
  read -r resume _ < <(python3 -c 'import subprocess,sys,time; t=time.perf_counter(); subprocess.run(sys.argv[1:],check=True); print(f"{time.perf_counter()-t:.3f} 0")' "$WEIR" run -q -w 2 "$DATA/cp-resume.sql")
  echo "| $keys | $events | $bytes | $ms | $count | $whole | $resume | ~$left |"
done
