#!/usr/bin/env bash
# Kafka source and sink benchmark (issue: Kafka connectors).
#
#   bash benches/kafka.sh [EVENTS]
#
# Starts a tansu broker (SQLite storage) on loopback, produces EVENTS
# (default 200,000) generated traffic events as JSON messages into a
# 2-partition topic with Python's confluent-kafka, then in the same run:
# 1. a raw librdkafka consumer (confluent-kafka, messages discarded): the
#    baseline that Weir's consume-and-decode rate is compared with;
# 2. Weir: Kafka -> Arrow batches -> blackhole, bounded, 1 and 2 workers;
# 3. the sink: Weir's generator -> Kafka (JSON, idempotent producer), next to
#    the Python producer's rate on the same events;
# 4. the same sink with 'sink.delivery-guarantee' = 'exactly-once' (staged
#    per checkpoint, published when it completes), checkpoints every 1 s
#    and every 10 s (a bounded run: the last checkpoint publishes the rest).
# Needs what scripts/test.sh installs (tansu, confluent-kafka).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-200000}"
source benches/lib.sh
TANSU="${WEIR_TANSU:-$HOME/.cache/weir/tools/bin/tansu}"
PYTHON="${WEIR_PYTHON:-python3}"
CLIENT=tests/kafka/client.py
JSON="$DATA/traffic-kafka-$EVENTS.json"
generated_json "$JSON"
BYTES=$(stat -c %s "$JSON")

BROKER_DIR=$(mktemp -d)
PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="tcp://127.0.0.1:$PORT"
BOOT="127.0.0.1:$PORT"
( cd "$BROKER_DIR" && exec "$TANSU" broker --listener-url "$URL" --advertised-listener-url "$URL" --storage-engine sqlite://broker.db >broker.log 2>&1 ) &
BROKER=$!
trap 'kill $BROKER 2>/dev/null; rm -rf "$BROKER_DIR"' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
(cd "$BROKER_DIR" && "$TANSU" topic create traffic --partitions 2 --broker "$URL" && "$TANSU" topic create out --partitions 2 --broker "$URL") >/dev/null

seconds() { "$PYTHON" -c 'import sys,time,subprocess; t=time.perf_counter(); subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,check=True); print(f"{time.perf_counter()-t:.3f}")' "$@"; }
rate() { awk -v n="$1" -v s="$2" -v e="$EVENTS" -v b="$BYTES" 'BEGIN{printf "| %s | %.3f | %.0f | %.1f |\n", n, s, e/s, b/s/1e6}'; }

PRODUCE=$(seconds "$PYTHON" "$CLIENT" produce "$BOOT" traffic "$JSON")
read -r n bytes raw < <("$PYTHON" "$CLIENT" drain "$BOOT" traffic "$EVENTS")

read_sql() {
  cat <<SQL
CREATE TABLE traffic (
  sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE NOT NULL,
  volume BIGINT NOT NULL, occupancy DOUBLE NOT NULL, congested BOOLEAN NOT NULL
) WITH ('connector' = 'kafka', 'topic' = 'traffic', 'properties.bootstrap.servers' = '$BOOT',
        'format' = 'json', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
CREATE TABLE out WITH ('connector' = 'blackhole');
INSERT INTO out SELECT * FROM traffic;
SQL
}
read_sql > "$DATA/kafka-read.sql"
cat > "$DATA/kafka-write.sql" <<SQL
CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '$EVENTS', 'sensors' = '100');
CREATE TABLE out WITH ('connector' = 'kafka', 'topic' = 'out', 'properties.bootstrap.servers' = '$BOOT', 'format' = 'json', 'key.fields' = 'sensor_id');
INSERT INTO out SELECT * FROM traffic;
SQL
exactly_once() {
  cat <<SQL
SET 'execution.checkpointing.interval' = '$1';
SET 'state.checkpoints.dir' = '$BROKER_DIR/checkpoints-$1';
CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '$EVENTS', 'sensors' = '100');
CREATE TABLE out WITH ('connector' = 'kafka', 'topic' = 'out', 'properties.bootstrap.servers' = '$BOOT', 'format' = 'json', 'key.fields' = 'sensor_id',
  'sink.delivery-guarantee' = 'exactly-once');
INSERT INTO out SELECT * FROM traffic;
SQL
}
exactly_once '1 s' > "$DATA/kafka-write-eo-1s.sql"
exactly_once '10 s' > "$DATA/kafka-write-eo-10s.sql"

echo "| run | seconds | events/s | MB/s (JSON) |"
echo "|---|---|---|---|"
rate "raw librdkafka consumer (confluent-kafka), messages discarded (baseline)" "$raw"
rate "Weir: Kafka -> Arrow -> blackhole, 1 worker (incl. start-up)" "$(seconds "$WEIR" run -q -w 1 "$DATA/kafka-read.sql")"
rate "Weir: Kafka -> Arrow -> blackhole, 2 workers (incl. start-up)" "$(seconds "$WEIR" run -q -w 2 "$DATA/kafka-read.sql")"
rate "Python producer (confluent-kafka, idempotent, keyed) (baseline)" "$PRODUCE"
rate "Weir: generator -> Kafka sink (JSON, idempotent, keyed), 2 workers" "$(seconds "$WEIR" run -q -w 2 "$DATA/kafka-write.sql")"
rate "Weir: generator -> Kafka sink, exactly-once, checkpoint every 1 s, 2 workers" "$(seconds "$WEIR" run -q -w 2 "$DATA/kafka-write-eo-1s.sql")"
rate "Weir: generator -> Kafka sink, exactly-once, checkpoint every 10 s, 2 workers" "$(seconds "$WEIR" run -q -w 2 "$DATA/kafka-write-eo-10s.sql")"
