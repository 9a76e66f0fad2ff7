#!/usr/bin/env bash
# Kafka where the broker is not the limit (issue 19): librdkafka's mock
# cluster, in memory on loopback, pre-filled with EVENTS (default
# 1,000,000) generated traffic events as JSON messages over 32 partitions.
# In the same run: a raw librdkafka consumer loop that only counts
# messages, next to Weir's Kafka -> Arrow -> blackhole on 1 and 2 workers;
# a raw producer loop, next to Weir's file -> Kafka sink. See
# connectors/examples/kafka_mock.rs. Prints Markdown for docs/benchmarks.md.
#
#   bash benches/kafka-mock.sh [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
source benches/lib.sh
JSON="$DATA/traffic-$EVENTS.json"
generated_json "$JSON"
# 32 partitions: librdkafka's mock broker keeps at most 5 MB and 100,000
# messages per partition (rdkafka_mock.c) and drops older ones.
"$CARGO_TARGET_DIR/release/examples/kafka_mock" "$WEIR" "$JSON" "${PARTITIONS:-32}"
