"""An independent Kafka client for Weir's tests (confluent-kafka, librdkafka).

    client.py produce BOOTSTRAP TOPIC FILE    each line of FILE becomes a message,
                                             keyed by its "sensor_id" when it has one
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


def produce(bootstrap, topic, path):
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
                key = str(json.loads(line).get("sensor_id")).encode()
            except Exception:
                key = None
            while True:
                try:
                    producer.produce(topic, value=line, key=key, on_delivery=report)
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


def consume(bootstrap, topic, count):
    consumer = from_earliest(bootstrap, topic)
    seen = 0
    idle = 0
    while seen < count and idle < 600:
        msg = consumer.poll(0.1)
        if msg is None:
            idle += 1
            continue
        if msg.error():
            sys.exit(f"consume failed: {msg.error()}")
        idle = 0
        key = msg.key().decode() if msg.key() is not None else ""
        headers = json.dumps({k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}, sort_keys=True)
        print(f"{msg.partition()}\t{key}\t{headers}\t{msg.value().decode()}")
        seen += 1
    consumer.close()
    if seen < count:
        sys.exit(f"consumed {seen} of {count} messages")


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
        produce(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "drain":
        drain(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif command == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
