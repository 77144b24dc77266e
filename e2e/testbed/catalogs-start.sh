#!/usr/bin/env bash
# Start the extra Iceberg catalogs: moto (AWS Glue), a Hive Metastore 3.1.3
# (Derby in memory) and Project Nessie (Iceberg REST, S3 warehouse on the
# test bed's versitygw, which must be up), fetching them first if the cache
# lacks them. What already runs is left alone. Adds E2E_GLUE, E2E_HIVE and
# E2E_NESSIE (and their warehouses) to .run/env when the test bed is up and
# prints them either way. All three keep their state in memory: every start
# begins empty. up.sh runs this with E2E_WITH_CATALOGS=1.
#
# usage: e2e/testbed/catalogs-start.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=catalogs.sh
source "$TESTBED_DIR/catalogs.sh"

ensure_dirs
if [[ ${E2E_TESTBED_LOCKED:-0} != 1 ]]; then # up.sh holds the lock already
  exec 9>"$RUN_DIR/.lock"
  flock -w 900 9 || die "another test-bed script holds $RUN_DIR/.lock"
fi
T0=$SECONDS
# The Maven fetches share ~/.m2: one after the other, beside the venv.
fetch_jars() { fetch_hive && fetch_nessie; }
fetchers=(fetch_jars fetch_moto)
pids=()
for f in "${fetchers[@]}"; do
  ("$f") >"$LOG_DIR/$f.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!fetchers[@]}"; do
  if ! wait "${pids[$i]}"; then
    log "${fetchers[$i]} failed; last 50 lines of $LOG_DIR/${fetchers[$i]}.log:"
    tail -n 50 "$LOG_DIR/${fetchers[$i]}.log" >&2
    failed=1
  fi
done
((failed == 0)) || exit 1
s3_healthy || die "nessie needs the test bed's S3 on $HOST:$S3_PORT: run up.sh first"

start_moto
start_hive
start_nessie
wait_moto
wait_hive
wait_nessie
env_set_catalogs set
catalogs_env
log "catalogs up in $((SECONDS - T0))s"
