#!/usr/bin/env bash
# Stop just the test-bed Kafka broker.
#
# usage: kafka-stop.sh          controlled shutdown (SIGTERM, SIGKILL after 60 s)
#        kafka-stop.sh --kill   crash it (SIGKILL at once)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sig=TERM
case "${1:-}" in
  --kill) sig=KILL ;;
  "") ;;
  *) die "usage: $0 [--kill]" ;;
esac
ensure_dirs
exec 9>"$RUN_DIR/.lock"
flock -w 900 9 || die "another test-bed script holds $RUN_DIR/.lock"
stop_kafka "$sig"
