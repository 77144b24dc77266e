#!/usr/bin/env bash
# Stop what e2e/testbed/up.sh (or registry-start.sh, stores-start.sh) started (only processes
# recorded in .run/pids whose command line still matches). Idempotent.
#
# usage: e2e/testbed/down.sh [--purge]   (--purge also deletes .run: all data and logs)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=stores.sh
source "$TESTBED_DIR/stores.sh"

purge=0
case "${1:-}" in
  --purge) purge=1 ;;
  "") ;;
  *) die "usage: $0 [--purge]" ;;
esac

if [[ -d $RUN_DIR ]]; then
  exec 9>"$RUN_DIR/.lock"
  flock -w 900 9 || die "another up.sh/down.sh holds $RUN_DIR/.lock"
  rm -f "$ENV_FILE"
  # Clients first, then what they talk to; Kafka's controlled shutdown
  # overlaps with the rest.
  stop_kafka TERM &
  kpid=$!
  E2E_TESTBED_LOCKED=1 "$TESTBED_DIR/catalogs-stop.sh"
  stop_apicurio
  stop_stores
  stop_svc rest-s3 "$(rest_marker rest-s3)"
  stop_svc rest-file "$(rest_marker rest-file)"
  stop_svc versitygw "$S3_MARKER"
  stop_postgres
  wait "$kpid"
fi

if ((purge)); then
  pg_link=$RUN_DIR/pg
  if [[ -L $pg_link ]]; then
    rm -rf "$(readlink -f "$pg_link")"
  fi
  rm -rf "$RUN_DIR"
  log "purged $RUN_DIR"
fi
log "test bed down"
