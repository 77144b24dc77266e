#!/usr/bin/env bash
# Start just the test-bed Kafka broker (after kafka-stop.sh) and wait until
# it serves metadata. Data in .run/kafka is kept. No-op if it already runs.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_dirs
exec 9>"$RUN_DIR/.lock"
flock -w 900 9 || die "another test-bed script holds $RUN_DIR/.lock"
fetch_kafka
start_kafka
wait_kafka
