"""Runs the Nexmark queries on Weir (and on PyFlink, side by side) and
prints the Markdown table of docs/benchmarks.md. Driven by
benches/nexmark.sh; see there for the arguments.

Weir runs each query twice: from its `nexmark` source (the headline
rate, as Flink's published figures come from Flink's own generator) and
from the same events written once to JSON files, as Flink reads them,
so that the ratio compares the two engines on the same input. Each
result of the file runs is compared row for row (as a multiset, times
as epoch milliseconds, numbers to 9 significant digits).
"""
import datetime
import decimal
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from queries import COLUMNS, NOTES, QUERIES  # noqa: E402

# Flink 1.13 on 8 x 1 slot, 100M events, events/s per core (nexmark/nexmark README).
FLINK_PUBLISHED = {"q0": 155_020, "q1": 157_940, "q2": 175_210, "q3": 152_120, "q5": 22_140, "q7": 12_330,
                   "q8": 146_140, "q11": 39_700, "q15": 72_420, "q16": 18_650, "q17": 116_800, "q20": 18_980,
                   "q21": 98_490, "q22": 129_960}

WATERMARK = "WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND"
TYPE = {"person": "Person", "auction": "Auction", "bid": "Bid"}


def file_of(data, table):
    return os.path.join(data, f"nexmark-{table}.json")


def weir_nexmark_ddl(table, events):
    cols = ", ".join(f"{n} {t}" for n, t in COLUMNS[table])
    return (f"CREATE TABLE {table} ({cols}, {WATERMARK}) WITH ('connector' = 'nexmark', "
            f"'nexmark.table.type' = '{TYPE[table]}', 'nexmark.event.num' = '{events}');\n")


def file_columns(table, ts_type):
    cols = []
    for n, t in COLUMNS[table]:
        if t == "TIMESTAMP":
            cols.append(f"{n}_ms BIGINT")
        else:
            cols.append(f"{n} {t}")
    for n, t in COLUMNS[table]:
        if t == "TIMESTAMP":
            cols.append(f"{n} AS TO_TIMESTAMP_LTZ({n}_ms, 3)")
    return ", ".join(cols) + f", {WATERMARK}"


def weir_file_ddl(table, data):
    return (f"CREATE TABLE {table} ({file_columns(table, 'TIMESTAMP')}) WITH ('connector' = 'file', "
            f"'path' = '{file_of(data, table)}', 'format' = 'json');\n")


def write_events(weir, data, events):
    """The events of every table as JSON lines, times as epoch ms (once)."""
    for table in COLUMNS:
        path = file_of(data, table)
        if os.path.exists(path) and os.path.exists(path + f".{events}"):
            continue
        select = ", ".join(f"CAST({n} AS BIGINT) AS {n}_ms" if t == "TIMESTAMP" else n for n, t in COLUMNS[table])
        sql = (weir_nexmark_ddl(table, events)
               + f"CREATE TABLE out WITH ('connector' = 'file', 'path' = '{path}', 'format' = 'json', 'mode' = 'overwrite');\n"
               + f"INSERT INTO out SELECT {select} FROM {table};\n")
        script = os.path.join(data, "nexmark-make.sql")
        with open(script, "w") as f:
            f.write(sql)
        subprocess.run([weir, "run", "-q", "-w", "1", script], check=True)
        open(path + f".{events}", "w").close()


def timed(cmd, repeat):
    """Best wall seconds of `repeat` runs, the largest max RSS (MiB) so far,
    and the peak rows of join state Weir reported (summed over joins)."""
    best = None
    state = rss = 0
    for _ in range(repeat):
        # /usr/bin/time measures the max RSS of Weir alone (a child forked
        # from this Python process would count its pages too).
        with tempfile.NamedTemporaryFile() as used:
            t = time.perf_counter()
            done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", used.name] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            t = time.perf_counter() - t
            text = done.stderr.decode(errors="replace")
            if done.returncode != 0:
                raise subprocess.CalledProcessError(done.returncode, cmd, stderr=done.stderr)
            rss = max(rss, int(open(used.name).read().split()[-1]) / 1024)
        best = t if best is None else min(best, t)
        peaks = re.findall(r"held at most (\d+) rows of state", text)
        state = max(state, sum(int(p) for p in peaks))
    return best, rss, state


def weir_run(weir, data, name, ddl, sink, workers, repeat):
    tag = "file" if "'file'" in ddl else "gen"
    script = os.path.join(data, f"nexmark-{name}-{tag}-{workers}.sql")
    with open(script, "w") as f:
        f.write(ddl + sink + f"INSERT INTO out {QUERIES[name][1]};\n")
    return timed([weir, "run", "-w", str(workers), script], repeat)


def normalized(value):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp() * 1000)
    if isinstance(value, str):
        try:
            return normalized(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return value
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        return float(f"{float(value):.9g}")
    return value


def weir_rows(path):
    rows = []
    with open(path) as f:
        for line in f:
            rows.append(tuple(normalized(v) for v in json.loads(line).values()))
    return sorted(rows, key=repr)


FLINK_DRIVER = r'''
import json, sys, time, datetime, decimal
from pyflink.table import EnvironmentSettings, TableEnvironment
spec = json.load(open(sys.argv[1]))
t = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t.get_config().set("parallelism.default", str(spec["parallelism"]))
t.get_config().set("table.exec.source.idle-timeout", "1 s")
t.get_config().set("table.local-time-zone", "UTC")
for ddl in spec["ddl"]:
    t.execute_sql(ddl)
query = spec["query"]
t.execute_sql("CREATE TEMPORARY VIEW q AS " + query)
def sql_type(d):
    name = type(d).__name__
    if name == "DecimalType":
        return f"DECIMAL({d.precision}, {d.scale})"
    return {"BigIntType": "BIGINT", "IntType": "INT", "SmallIntType": "SMALLINT", "TinyIntType": "TINYINT",
            "VarCharType": "STRING", "CharType": "STRING", "BooleanType": "BOOLEAN", "DoubleType": "DOUBLE",
            "FloatType": "FLOAT", "LocalZonedTimestampType": "TIMESTAMP_LTZ(3)", "TimestampType": "TIMESTAMP(3)",
            "DateType": "DATE"}[name]
best = None
for _ in range(spec["repeat"]):
    t.execute_sql("DROP TABLE IF EXISTS bh")
    schema = t.from_path("q").get_schema()
    fields = ", ".join(f"`{n}` {sql_type(d)}" for n, d in zip(schema.get_field_names(), schema.get_field_data_types()))
    t.execute_sql(f"CREATE TABLE bh ({fields}) WITH ('connector' = 'blackhole')")
    start = time.perf_counter()
    t.execute_sql("INSERT INTO bh SELECT * FROM q").wait()
    elapsed = time.perf_counter() - start
    best = elapsed if best is None else min(best, elapsed)
rows = []
if spec["collect"] == "collect":
    # Few rows: collected, times as text (PyFlink cannot carry TIMESTAMP_LTZ).
    from collections import Counter
    from pyflink.common import RowKind
    shown = ", ".join(f"DATE_FORMAT(`{n}`, 'yyyy-MM-dd HH:mm:ss.SSS')" if "Timestamp" in type(d).__name__ else f"`{n}`"
                      for n, d in zip(schema.get_field_names(), schema.get_field_data_types()))
    final = Counter()
    with t.execute_sql(f"SELECT {shown} FROM q").collect() as results:
        for r in results:
            row = json.dumps([float(v) if isinstance(v, decimal.Decimal) else v for v in r])
            final[row] += -1 if r.get_row_kind() in (RowKind.UPDATE_BEFORE, RowKind.DELETE) else 1
    for row, n in final.items():
        rows.extend([json.loads(row)] * max(n, 0))
elif spec["collect"]:
    # Many rows: through a filesystem sink (collecting through Python is far
    # too slow for a million rows). It commits its files at checkpoints, the
    # last one as the input ends.
    import glob, os, shutil
    shutil.rmtree(spec["rows_dir"], ignore_errors=True)
    t.get_config().set("execution.checkpointing.interval", "1 s")
    t.execute_sql("DROP TABLE IF EXISTS result_rows")
    t.execute_sql(f"CREATE TABLE result_rows ({fields}) WITH ('connector' = 'filesystem', 'path' = '{spec['rows_dir']}', 'format' = 'json')")
    t.execute_sql("INSERT INTO result_rows SELECT * FROM q").wait()
    for path in glob.glob(os.path.join(spec["rows_dir"], "**", "part-*"), recursive=True):
        with open(path) as f:
            rows.extend(list(json.loads(line).values()) for line in f if line.strip())
json.dump({"seconds": best, "rows": rows}, open(spec["out"], "w"))
'''


def flink_ddl(table, data):
    return (f"CREATE TABLE {table} ({file_columns(table, 'TIMESTAMP_LTZ(3)')}) WITH ('connector' = 'filesystem', "
            f"'path' = '{file_of(data, table)}', 'format' = 'json')").replace(" STRING", " STRING")


def flink_run(python, data, name, parallelism, repeat, collect):
    tables, weir_sql, flink_sql = QUERIES[name]
    spec = {"parallelism": parallelism, "ddl": [flink_ddl(t, data) for t in tables], "query": flink_sql or weir_sql,
            "repeat": repeat, "collect": collect, "out": os.path.join(data, f"flink-{name}-{parallelism}.json"),
            "rows_dir": os.path.join(data, f"flink-{name}-rows")}
    path = os.path.join(data, f"flink-{name}.spec.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    driver = os.path.join(data, "flink_driver.py")
    with open(driver, "w") as f:
        f.write(FLINK_DRIVER)
    done = subprocess.run([python, driver, path], capture_output=True, text=True)
    if done.returncode != 0:
        causes = [l.strip() for l in done.stderr.splitlines() if l.startswith(("Caused by", "py4j", ": "))]
        return None, None, (causes[-1] if causes else "failed")[:200]
    result = json.load(open(spec["out"]))
    rows = sorted((tuple(normalized(v) for v in r) for r in result["rows"]), key=repr)
    return result["seconds"], rows, None


def main():
    weir, events, side, data, flink_python, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6:]
    names = names or list(QUERIES)
    # The side-by-side runs read `side` events from files.
    write_events(weir, data, side)
    blackhole = "CREATE TABLE out WITH ('connector' = 'blackhole');\n"
    print(f"| query | Weir 1 worker (events/s) | Weir 2 workers (events/s) | Weir max RSS (MiB) | join state (peak rows) | Flink 1.13 published, per core | Weir 1 worker / published "
          f"| Weir from file, 1 worker (events/s) | PyFlink 1.20 from file, parallelism 1 (events/s) | Weir / PyFlink | same rows | differs from the original |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        tables = QUERIES[name][0]
        ddl = "".join(weir_nexmark_ddl(t, events) for t in tables)
        try:
            one, rss1, state = weir_run(weir, data, name, ddl, blackhole, 1, 3)
            two, rss2, _ = weir_run(weir, data, name, ddl, blackhole, 2, 3)
        except subprocess.CalledProcessError as e:
            reason = (e.stderr or b"").decode(errors="replace").strip().splitlines()
            print(f"| {name} | does not run: {reason[-1][:160] if reason else 'failed'} | | | | {FLINK_PUBLISHED.get(name, '')} | | | | | | |")
            continue
        out = os.path.join(data, f"weir-{name}.json")
        sink = f"CREATE TABLE out WITH ('connector' = 'file', 'path' = '{out}', 'format' = 'json', 'mode' = 'overwrite');\n"
        file_ddl = "".join(weir_file_ddl(t, data) for t in tables)
        from_file, _, _ = weir_run(weir, data, name, file_ddl, sink, 1, 3)
        per_core = events / one / FLINK_PUBLISHED[name]
        ours = weir_rows(out)
        flink = "not run"
        ratio = same = ""
        if flink_python != "-":
            seconds, rows, failed = flink_run(flink_python, data, name, 1, 2, "collect" if len(ours) < 150_000 else "files")
            if failed:
                flink = f"fails: {failed}"
            else:
                flink = f"{side / seconds:,.0f}"
                ratio = f"{seconds / from_file:.1f}x"
                same = "yes" if rows == ours else f"no ({len(ours)} vs {len(rows)} rows)"
        joined = f"{state:,}" if state else ""
        print(f"| {name} | {events / one:,.0f} | {events / two:,.0f} | {max(rss1, rss2):,.0f} | {joined} | {FLINK_PUBLISHED[name]:,} | {per_core:.1f}x "
              f"| {side / from_file:,.0f} | {flink} | {ratio} | {same} | {NOTES.get(name, '')} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
