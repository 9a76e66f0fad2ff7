#!/usr/bin/env bash
# The CUDA checks of the kernels, in one go, for a machine with a GPU.
#
#   bash scripts/gpu-check.sh --build   # here (any machine with Rust): build the
#                                       # kernels' test and bench binaries into gpu-bin/
#   bash scripts/gpu-check.sh           # there (GPU, driver, NVRTC; no Rust needed):
#                                       # parity tests, then the kernel benches
#                                       # (GPU_CHECK_BENCHES="stats" runs one set,
#                                       # "none" only the parity tests)
#
# gpu-bin/ is git-ignored; carry it to the GPU machine with the working tree.
# The binaries link no CUDA: cudarc loads libcuda and libnvrtc at run time,
# so use the GPU machine's own NVRTC (set LD_LIBRARY_PATH to its lib64 if it
# is not found). Prints a short table at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=gpu-bin

if [ "${1:-}" = "--build" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/weir/target}"
  mkdir -p "$BIN"
  # Only weir-kernels: no DataFusion in this build.
  copy='
import json, shutil, subprocess, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] in ("banks", "stats"):
        kind = sys.argv[1]
        dst = "'"$BIN"'/" + m["target"]["name"] + "-" + kind
        shutil.copy(m["executable"], dst)
        # Without debug info: the four binaries must travel (64 MiB at most).
        if shutil.which("strip"):
            subprocess.run(["strip", "--strip-debug", dst], check=True)
        print("copied", m["executable"], "->", dst)
'
  cargo test --release --locked -p weir-kernels --no-run --message-format=json | python3 -c "$copy" test
  cargo bench --locked -p weir-kernels --no-run --message-format=json | python3 -c "$copy" bench
  du -sh "$BIN"
  exit 0
fi

for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
done
# NVRTC from a Python wheel (nvidia-cuda-nvrtc) where no toolkit is installed.
if ! ldconfig -p 2>/dev/null | grep -q libnvrtc && command -v python3 >/dev/null; then
  for f in $(python3 -c 'import glob, site; print(" ".join(p for d in site.getsitepackages() for p in glob.glob(d + "/nvidia/*/lib")))' 2>/dev/null); do
    export LD_LIBRARY_PATH="$f${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
fi
# On a GPU machine a skipped CUDA test is a failure, not a pass.
export WEIR_REQUIRE_NVRTC=1
if command -v nvidia-smi >/dev/null; then export WEIR_REQUIRE_CUDA=1; fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: not available"
echo "==> parity: CUDA vs CPU vs float64 reference / naive counts; PTX compile"
# The C++ emulation tests need the source tree at its build-time path; they
# run in CI anyway, so they are skipped here.
for t in banks stats; do
  "$BIN/$t-test" --test-threads 1 --nocapture --skip cuda_source_emulated --skip cuda_histogram_source_emulated 2>&1 \
    | tee "$BIN/parity-$t.log" | grep -E "^test |SKIPPED|panicked|test result" || echo "PARITY FAILED: see $BIN/parity-$t.log"
done
echo "==> kernel benches (criterion)"
args=(--bench --warm-up-time 1 --measurement-time 2 --sample-size 20)
# GPU_CHECK_BENCHES picks the bench binaries (default: both).
: > "$BIN/bench.log"
for b in ${GPU_CHECK_BENCHES:-banks stats}; do
  [ "$b" = none ] && continue
  filter=(); [ "$b" = stats ] && filter=(windows)
  # GPU_CHECK_FILTER narrows the banks benches (a criterion filter, such as "logistic").
  if [ "$b" = banks ] && [ -n "${GPU_CHECK_FILTER:-}" ]; then filter=("$GPU_CHECK_FILTER"); fi
  "$BIN/$b-bench" "${args[@]}" "${filter[@]}" >> "$BIN/bench.log" 2>&1 || echo "BENCH FAILED: $b"
done
if [ -n "${OUT:-}" ]; then cp "$BIN"/parity-*.log "$BIN/bench.log" "$OUT/"; fi
python3 - "$BIN/bench.log" <<'PY'
import re, sys
name = None
print("| bench | rows/s (median) |\n|---|---:|")
for line in open(sys.argv[1]):
    if re.match(r"^((large )?(logistic|softmax|mlp) bank|feature drift|key groups)", line):
        group, bench = line.split("/", 1)
        name = f"{group}: {bench.strip()}"
    m = re.search(r"thrpt:\s*\[\S+ \S+ (\S+) (\S+)", line)
    if m and name:
        print(f"| {name} | {m.group(1)} {m.group(2)} |")
        name = None
PY
