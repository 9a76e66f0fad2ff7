"""An independent Kafka client for Weir's tests (confluent-kafka, librdkafka).

    client.py produce BOOTSTRAP TOPIC FILE [PARTITION]
                                             each line of FILE becomes a message,
                                             keyed by its "sensor_id" when it has one,
                                             stamped with its "ts_ms" when it has one
    client.py consume-all BOOTSTRAP TOPIC     like consume, everything until 5 s pass without
                                             a message
    client.py consume-meta BOOTSTRAP TOPIC COUNT
                                             prints COUNT messages as partition<TAB>
                                             offset<TAB>timestamp ms<TAB>key<TAB>value
    client.py produce-avro BOOTSTRAP TOPIC SCHEMA FILE
                                             each JSON line of FILE becomes a message holding
                                             one Avro record (fastavro, schemaless) of the
                                             schema in file SCHEMA; other lines go as raw bytes
    client.py consume-avro BOOTSTRAP TOPIC SCHEMA COUNT
                                             prints COUNT Avro records as JSON lines
                                             (timestamps as epoch milliseconds)
    client.py committed BOOTSTRAP GROUP TOPIC prints the group's committed offset of
                                             each partition as partition<TAB>offset
    client.py produce-json BOOTSTRAP TOPIC FILE
                                             each line of FILE is a JSON array [key, value]
                                             (strings, or null), optionally with a third
                                             element, the timestamp in epoch ms: one message
                                             each, so a value may hold newlines
    client.py consume-json BOOTSTRAP TOPIC COUNT
                                             prints COUNT messages as JSON arrays
                                             [partition, key, value] (null where absent)
    client.py consume BOOTSTRAP TOPIC COUNT   prints COUNT messages as
                                             partition<TAB>key<TAB>headers (JSON)<TAB>value
    client.py drain BOOTSTRAP TOPIC COUNT     reads COUNT messages as fast as it can and
                                             prints "messages bytes seconds" (a raw
                                             librdkafka consumer, the benchmark baseline)
"""
import json
import sys
import uuid

from confluent_kafka import Consumer, Producer


def produce(bootstrap, topic, path, partition=None):
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    failed = []

    def report(err, _msg):
        if err is not None:
            failed.append(str(err))

    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line:
                continue
            try:
                record = json.loads(line)
                key = str(record.get("sensor_id")).encode()
                stamp = record.get("ts_ms")
            except Exception:
                key, stamp = None, None
            extra = {}
            if partition is not None:
                extra["partition"] = partition
            if isinstance(stamp, int):
                extra["timestamp"] = stamp
            while True:
                try:
                    producer.produce(topic, value=line, key=key, on_delivery=report, **extra)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
    remaining = producer.flush(60)
    if remaining or failed:
        sys.exit(f"produce failed: {remaining} undelivered, errors {failed[:3]}")


def from_earliest(bootstrap, topic):
    """A consumer in a fresh group, reading `topic` from its first message."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"weir-test-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    return consumer


def messages(bootstrap, topic, count, idle_polls=600):
    """Yields up to COUNT messages; exits with an error on fewer unless
    idle_polls is lowered (then fewer only means the topic ran dry)."""
    consumer = from_earliest(bootstrap, topic)
    seen = 0
    idle = 0
    while seen < count and idle < idle_polls:
        msg = consumer.poll(0.1)
        if msg is None:
            idle += 1
            continue
        if msg.error():
            sys.exit(f"consume failed: {msg.error()}")
        idle = 0
        yield msg
        seen += 1
    consumer.close()
    if seen < count and idle_polls == 600:
        sys.exit(f"consumed {seen} of {count} messages")


def consume(bootstrap, topic, count, idle_polls=600):
    for msg in messages(bootstrap, topic, count, idle_polls):
        key = msg.key().decode() if msg.key() is not None else ""
        headers = json.dumps({k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}, sort_keys=True)
        print(f"{msg.partition()}\t{key}\t{headers}\t{msg.value().decode()}")


def produce_json(bootstrap, topic, path):
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            message = json.loads(line)
            key, value = message[0], message[1]
            extra = {"timestamp": message[2]} if len(message) > 2 else {}
            producer.produce(topic, value=None if value is None else value.encode(), key=None if key is None else key.encode(), **extra)
            producer.poll(0)
    if producer.flush(60):
        sys.exit("produce-json failed: undelivered messages")


def consume_json(bootstrap, topic, count):
    for msg in messages(bootstrap, topic, count):
        key = msg.key().decode() if msg.key() is not None else None
        value = msg.value().decode() if msg.value() is not None else None
        print(json.dumps([msg.partition(), key, value]))


def consume_meta(bootstrap, topic, count):
    for msg in messages(bootstrap, topic, count):
        key = msg.key().decode() if msg.key() is not None else ""
        print(f"{msg.partition()}\t{msg.offset()}\t{msg.timestamp()[1]}\t{key}\t{msg.value().decode()}")


def produce_avro(bootstrap, topic, schema_path, path):
    import io
    import fastavro
    with open(schema_path) as f:
        schema = fastavro.parse_schema(json.load(f))
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            try:
                record = json.loads(line)
                out = io.BytesIO()
                fastavro.schemaless_writer(out, schema, record)
                value = out.getvalue()
            except ValueError:
                value = line
            producer.produce(topic, value=value)
            producer.poll(0)
    if producer.flush(60):
        sys.exit("produce-avro failed: undelivered messages")


def consume_avro(bootstrap, topic, schema_path, count):
    import datetime
    import io
    import fastavro
    with open(schema_path) as f:
        schema = fastavro.parse_schema(json.load(f))

    def plain(v):
        if isinstance(v, datetime.datetime):
            return round(v.timestamp() * 1000)
        return v

    for msg in messages(bootstrap, topic, count):
        record = fastavro.schemaless_reader(io.BytesIO(msg.value()), schema, None)
        print(json.dumps({k: plain(v) for k, v in record.items()}, sort_keys=True, separators=(",", ":")))


def committed(bootstrap, group, topic):
    from confluent_kafka import TopicPartition
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=15).topics[topic].partitions
    offsets = consumer.committed([TopicPartition(topic, p) for p in sorted(partitions)], timeout=15)
    for tp in offsets:
        print(f"{tp.partition}\t{tp.offset}")
    consumer.close()


def drain(bootstrap, topic, count):
    import time
    consumer = from_earliest(bootstrap, topic)
    seen = size = 0
    started = None
    while seen < count:
        batch = consumer.consume(10000, 1.0)
        if started is None and batch:
            started = time.perf_counter()
        for msg in batch:
            if msg.error():
                sys.exit(f"consume failed: {msg.error()}")
            size += len(msg.value())
            seen += 1
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    print(f"{seen} {size} {elapsed:.3f}")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else None)
    elif command == "consume-all":
        consume(sys.argv[2], sys.argv[3], 1 << 62, idle_polls=50)
    elif command == "produce-json":
        produce_json(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "consume-json":
        consume_json(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif command == "consume-meta":
        consume_meta(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif command == "produce-avro":
        produce_avro(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif command == "consume-avro":
        consume_avro(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif command == "committed":
        committed(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "drain":
        drain(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif command == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
