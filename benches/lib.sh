# Shared by the end-to-end benchmark scripts: the build, the input file and
# the timing helpers. Source it after `cd` to the repository root with
# EVENTS set.

# The same target directory as scripts/test.sh picks: the clone's own
# target/ once the main job has built there, else the shared cache.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ -d target/release/deps ]; then
    export CARGO_TARGET_DIR="$PWD/target"
  else
    export CARGO_TARGET_DIR="$HOME/.cache/weir/target"
  fi
fi
# Same command (and so the same feature set) as the test suite: no rebuild.
cargo test --release --workspace --all-targets --locked --no-run >&2
WEIR="$CARGO_TARGET_DIR/release/weir"
DATA=bench-data
mkdir -p "$DATA"

# generated_json FILE: EVENTS generated traffic events (100 sensors, up to
# 2 s out of order) as JSON lines, written once. One worker, so the file
# keeps the generator's order; two would interleave whole chunks.
generated_json() {
  if [ ! -s "$1" ]; then
    cat > "$DATA/make.sql" <<SQL
CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '$EVENTS', 'sensors' = '100', 'disorder_ms' = '2000');
CREATE TABLE out WITH ('connector' = 'file', 'path' = '$1', 'format' = 'json');
INSERT INTO out SELECT * FROM traffic;
SQL
    "$WEIR" run -q -w 1 "$DATA/make.sql"
  fi
}

# measure CMD...: best-of-3 wall seconds and the max RSS (KiB) of CMD.
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
best = None
for _ in range(3):
    t = time.perf_counter()
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    t = time.perf_counter() - t
    best = t if best is None else min(best, t)
print(f"{best:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

# row NAME SECONDS RSS_KIB: a Markdown table row for EVENTS events of BYTES.
row() {
  awk -v n="$1" -v s="$2" -v m="$3" -v e="$EVENTS" -v b="$BYTES" \
    'BEGIN{printf "| %s | %.3f | %.0f | %.1f | %.0f |\n", n, s, e/s, b/s/1e6, m/1024}'
}
