#!/usr/bin/env bash
# The main example through Kafka, with no setup: installs the tansu broker
# if needed, then runs `weir demo` (a broker on loopback, the generator's
# readings produced into topic 'traffic', examples/traffic.sql reading it).
# Arguments go to `weir demo` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tansu.sh
exec cargo run --release --locked -- demo "$@"
