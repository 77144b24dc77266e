#!/usr/bin/env bash
# Stop what catalogs-start.sh started (only processes recorded in .run/pids
# whose command line still matches) and take their lines out of .run/env.
# Idempotent; down.sh runs it.
#
# usage: e2e/testbed/catalogs-stop.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=catalogs.sh
source "$TESTBED_DIR/catalogs.sh"

[[ -d $RUN_DIR ]] || exit 0
if [[ ${E2E_TESTBED_LOCKED:-0} != 1 ]]; then
  exec 9>"$RUN_DIR/.lock"
  flock -w 900 9 || die "another test-bed script holds $RUN_DIR/.lock"
fi
env_set_catalogs
stop_svc nessie "$NESSIE_MARKER" TERM 30
stop_svc hive "$HIVE_MARKER" TERM 30
stop_svc moto "$MOTO_MARKER" TERM 10
