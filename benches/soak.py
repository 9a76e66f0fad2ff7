"""Runs `weir run` on a pipeline and samples its /metrics every 10 s (see
soak.sh). Usage: soak.py WEIR PIPELINE SECONDS RATE WORKERS"""
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

weir, pipeline, total, rate, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
proc = subprocess.Popen([weir, "run", "-w", workers, "--metrics-addr", f"127.0.0.1:{port}", pipeline],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape():
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            out.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return out


def total_of(metrics, name):
    return sum(v for _, v in metrics.get(name, []))


def buckets(metrics, name):
    """Cumulative bucket counts by upper bound, summed over label sets."""
    b = {}
    for labels, v in metrics.get(name + "_bucket", []):
        le = re.search(r'le="([^"]+)"', labels).group(1)
        b[float(le)] = b.get(float(le), 0.0) + v
    return b


def quantile(now, before, q):
    """The q-quantile's bucket bound of the observations between two scrapes."""
    bounds = sorted(now)
    counts = [now[x] - before.get(x, 0.0) for x in bounds]
    if not counts or counts[-1] <= 0:
        return float("nan")
    for bound, c in zip(bounds, counts):
        if c >= q * counts[-1]:
            return bound
    return float("inf")


def ms(x):
    return "-" if x != x else ("> 10 s" if x == float("inf") else f"{x * 1000:.3g}")


deadline = time.monotonic() + 60
prev = None
while prev is None:
    try:
        prev = scrape()
    except OSError:
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"weir did not serve metrics: {proc.stderr.read().decode()}")
        time.sleep(0.2)
start = time.monotonic()
t_prev = start
print(f"soak: {pipeline} at {rate} events/s, {workers} workers, {total} s")
print("| t (s) | RSS (MiB) | events/s | window latency p50 / p99 (ms) | operator batch p50 / p99 (ms) |")
print("|---|---|---|---|---|")
rss = []
rates = []
while time.monotonic() - start < total:
    time.sleep(10 - ((time.monotonic() - start) % 10))
    if proc.poll() is not None:
        sys.exit(f"weir exited early ({proc.returncode}): {proc.stderr.read().decode()}")
    now = scrape()
    t = time.monotonic()
    events = (total_of(now, "weir_source_records_total") - total_of(prev, "weir_source_records_total")) / (t - t_prev)
    mib = total_of(now, "process_resident_memory_bytes") / 2**20
    wl_now, wl_prev = buckets(now, "weir_window_latency_seconds"), buckets(prev, "weir_window_latency_seconds")
    op_now, op_prev = buckets(now, "weir_operator_processing_seconds"), buckets(prev, "weir_operator_processing_seconds")
    print(f"| {t - start:.0f} | {mib:.0f} | {events:.0f} | {ms(quantile(wl_now, wl_prev, .5))} / {ms(quantile(wl_now, wl_prev, .99))} "
          f"| {ms(quantile(op_now, op_prev, .5))} / {ms(quantile(op_now, op_prev, .99))} |", flush=True)
    rss.append(mib)
    rates.append(events)
    prev, t_prev = now, t

proc.send_signal(signal.SIGTERM)
try:
    code = proc.wait(timeout=60)
except subprocess.TimeoutExpired:
    proc.kill()
    sys.exit("weir did not stop within 60 s of SIGTERM")
third = max(1, len(rss) // 3)
print(f"\nRSS first third max {max(rss[:third]):.0f} MiB, last third max {max(rss[-third:]):.0f} MiB; "
      f"events/s min {min(rates):.0f}, median {sorted(rates)[len(rates) // 2]:.0f}; exit {code} after SIGTERM")
sys.exit(0 if code == 0 else 1)
