"""Writes the fuzzers' starting inputs into fuzz/corpus/<target>/ (run by
scripts/fuzz.sh when a corpus is empty): the repository's own pipelines for
the SQL target, and small well-formed and malformed inputs for the others.
"""
import glob
import os
import struct
import sys

root = os.path.join(os.path.dirname(__file__), "..", "..")
corpus = os.path.join(root, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


for i, path in enumerate(sorted(glob.glob(os.path.join(root, "tests/golden/check/*.sql")) + glob.glob(os.path.join(root, "examples/*.sql")))):
    with open(path, "rb") as f:
        put("sql", f"seed-{i:03}", f.read())

lines = [
    '{"sensor_id": 1, "ts": "2026-01-01T00:00:00Z", "speed": 61.5, "road": "A1"}',
    '{"sensor_id": "7", "ts": 1767225600000, "speed": "61.5"}',
    '{"sensor_id": 6 "ts": "2026-01-01T00:00:00Z"}',
    '{"sensor_id": 1, "ts": "2026-01-01T00:00:00Z"} {"sensor_id": 2, "ts": "2026-01-01T00:00:00Z"}',
    '{"ts": "2026-01-01T00:00:00Z"}',
    'not json',
]
put("json", "seed-lines", b"\x00" + "\n".join(lines).encode() + b"\n")
put("json", "seed-records", b"\x00" + "\x1e".join(lines).encode())
put("json", "seed-decimals", b"\x01" + b'{"d": 12.345, "n": 1, "ok": true}\n{"d": "1.005", "n": 2}\n{"d": 99999999.999, "n": 3}\n')
put("json", "seed-wide", b"\x02" + b'{"big": 1234567890123456789012345678901234.56789, "t": "2026-13-01T00:00:00Z", "s": "x"}\n')

put("csv", "seed-traffic", b"\x00sensor_id,ts,speed,road\n1,2026-01-01T00:00:00Z,61.5,A1\n2,2026-01-01T00:00:01Z,,\"B \"\"12\"\"\"\n,2026-01-01T00:00:02Z,3.0,C\n")
put("csv", "seed-decimals", b"\x01n,d,ok\n1,12.345,true\n2,1.005,false\n3,abc,maybe\n")
put("csv", "seed-records", b"\x00sensor_id,ts,speed,road\n1,2026-01-01T00:00:00Z,1.0,\"two\nlines\"\x1e2,2026-01-01T00:00:01Z,2.0,x")


def zigzag(n):
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def reading(sensor, ts, speed, road, lanes):
    body = zigzag(sensor) + zigzag(ts)
    body += (zigzag(1) + struct.pack("<d", speed)) if speed is not None else zigzag(0)
    body += (zigzag(1) + zigzag(len(road)) + road.encode()) if road is not None else zigzag(0)
    return body + zigzag(lanes)


put("avro", "seed-two", reading(1, 1767225600000, 61.5, "A1", 2) + b"\xfe" + reading(2, 1767225601000, None, None, 3))
put("avro", "seed-bad", reading(1, 1767225600000, 61.5, "A1", 2) + reading(3, 0, 1.0, "x", 1) + b"\xfe\x02\x02\x06")

meta = b""
for partition, offset, stamp, key in [(0, 0, 1767225600000, b"s1"), (3, 2**40, -1, b"\xff\xfe"), (-1, -5, 2**62, b"")]:
    meta += struct.pack("<iqqB", partition, offset, stamp, len(key)) + key
for pick in range(10):
    put("kafka_metadata", f"seed-{pick}", bytes([pick]) + meta)

pipeline = b"CREATE TABLE t WITH ('connector' = 'generator', 'events' = '10');\nCREATE TABLE o WITH ('connector' = 'blackhole');\nINSERT INTO o SELECT * FROM t;"
for i, (method, path, header, body) in enumerate([
    (0, b"/healthz", b"", b""),
    (0, b"/pipelines", b"Authorization: Bearer t", b""),
    (1, b"/validate", b"Authorization: Bearer t", pipeline),
    (1, b"/pipelines", b"Authorization: Bearer t", pipeline),
    (1, b"/validate", b"Authorization: Bearer wrong", pipeline),
    (2, b"/pipelines/p1", b"Authorization: Bearer t", b""),
    (0, b"/pipelines/%ff%00", b"Authorization: Bearer t", b""),
    (0, b"/openapi.json", b"Authorization: Bearer t", b""),
    (0, b"/metrics", b"Authorization: Bearer t", b""),
    (1, b"/validate", b"Authorization: Bearer t", b"\xff\xfe not utf-8"),
]):
    put("rest", f"seed-{i}", bytes([method]) + path + b"\n" + header + b"\n" + body)
print("seeded", corpus, file=sys.stderr)
