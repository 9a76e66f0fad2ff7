#!/usr/bin/env bash
# The CUDA checks of the kernels, in one go, for a machine with a GPU.
#
#   bash scripts/gpu-check.sh --build   # here (any machine with Rust): build the
#                                       # kernels' test and bench binaries into gpu-bin/
#   bash scripts/gpu-check.sh           # there (GPU, driver, NVRTC; no Rust needed):
#                                       # parity tests, then the kernel benches
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
  cargo test --release --locked -p weir-kernels --no-run --message-format=json \
    | python3 -c '
import json, shutil, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "banks":
        kind = "bench" if "bench" in m["target"]["kind"] else "test"
        shutil.copy(m["executable"], f"'"$BIN"'/banks-{kind}")
        print("copied", m["executable"], "->", f"'"$BIN"'/banks-{kind}")
'
  cargo bench --locked -p weir-kernels --bench banks --no-run --message-format=json \
    | python3 -c '
import json, shutil, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "banks":
        shutil.copy(m["executable"], "'"$BIN"'/banks-bench")
        print("copied", m["executable"], "->", "'"$BIN"'/banks-bench")
'
  du -sh "$BIN"
  exit 0
fi

for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: not available"
echo "==> parity: CUDA bank vs CPU bank vs float64 reference; PTX compile"
# The C++ emulation test needs the source tree at its build-time path; it
# runs in CI anyway, so it is skipped here.
"$BIN/banks-test" --test-threads 1 --nocapture --skip cuda_source_emulated 2>&1 | tee "$BIN/parity.log" \
  | grep -E "^test |SKIPPED|panicked|test result"
echo "==> kernel benches (criterion, 8192-row batches)"
"$BIN/banks-bench" --bench --warm-up-time 1 --measurement-time 3 > "$BIN/bench.log" 2>&1 || true
python3 - "$BIN/bench.log" <<'PY'
import re, sys
name = None
print("| bench (8192-row batch) | rows/s (median) |\n|---|---:|")
for line in open(sys.argv[1]):
    if re.match(r"^(logistic|softmax|mlp) bank", line):
        group, bench = line.split("/", 1)
        name = f"{group.split(',')[0]}: {bench.strip()}"
    m = re.search(r"thrpt:\s*\[\S+ \S+ (\S+) (\S+)", line)
    if m and name:
        print(f"| {name} | {m.group(1)} {m.group(2)} |")
        name = None
PY
