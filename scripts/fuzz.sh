#!/usr/bin/env bash
# Runs Weir's fuzz targets (fuzz/, cargo-fuzz + libFuzzer, nightly) and
# keeps their corpora minimal. Not part of the test command: the test suite
# only replays fuzz/corpus (tests/it/fuzz.rs), which takes seconds.
#
#   bash scripts/fuzz.sh TARGET [SECONDS] [extra libFuzzer flags]   run one target
#   bash scripts/fuzz.sh all [SECONDS]                              each target in turn
#   bash scripts/fuzz.sh cmin TARGET                                minimize its corpus
#
# Targets: sql json csv avro kafka_metadata rest. SECONDS defaults to 600.
# A crash leaves its input in fuzz/artifacts/TARGET/; add the input to
# fuzz/corpus/TARGET/ once fixed, so CI replays it. Results: docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(sql json csv avro kafka_metadata rest)
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
# No sanitizer: Weir is safe Rust (plus librdkafka, which the targets do
# not reach); what the fuzzers look for is panics, aborts, stack overflows,
# hangs and broken invariants (the targets assert them).
FLAGS=(--sanitizer none --release)

seed() {
  [ -n "$(ls -A "fuzz/corpus/$1" 2>/dev/null)" ] || python3 fuzz/seeds/make.py
}

run() {
  local target="$1" seconds="${2:-600}"
  shift 2 || shift $#
  seed "$target"
  mkdir -p "fuzz/artifacts/$target" "fuzz/logs"
  # -timeout: an input that runs 30 s is a hang (planning's own limit is 20 s).
  # -rss_limit_mb: planning a large pipeline holds a few hundred MiB.
  (cd fuzz && cargo +nightly fuzz run "${FLAGS[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -max_len=65536 \
    -print_final_stats=1 "$@") 2>&1 | tee "fuzz/logs/$target.log" | grep -E '^(#[0-9]+.*(pulse|DONE)|stat::|==|thread)' || true
  test "${PIPESTATUS[0]}" -eq 0
}

cmin() {
  local target="$1"
  (cd fuzz && cargo +nightly fuzz cmin "${FLAGS[@]}" "$target" "corpus/$target" -- -timeout=30 -rss_limit_mb=4096)
}

case "${1:-}" in
  all) for t in "${TARGETS[@]}"; do run "$t" "${2:-600}"; done ;;
  cmin) cmin "$2" ;;
  sql|json|csv|avro|kafka_metadata|rest) run "$@" ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
