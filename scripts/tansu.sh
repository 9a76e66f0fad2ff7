# Sourced by scripts/test.sh and scripts/demo.sh: installs the tansu
# Kafka-protocol broker (crates.io) once, outside the clone, and exports
# WEIR_TANSU. About 17 minutes on 2 cores the first time (measured cold, 2026-12-01).
TOOLS="${WEIR_TOOLS:-$HOME/.cache/weir/tools}"
if [ ! -x "$TOOLS/bin/tansu" ]; then
  echo "==> installing the tansu broker into $TOOLS"
  cargo install tansu --version 0.6.0 --locked --features libsql --root "$TOOLS"
fi
export WEIR_TANSU="$TOOLS/bin/tansu"
