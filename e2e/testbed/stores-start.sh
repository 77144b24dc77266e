#!/usr/bin/env bash
# Start just the cloud object-store emulators — fake-gcs-server (GCS, bucket
# floe-e2e), an Iceberg REST catalog with its warehouse on it, and Azurite
# (Azure Blob) — and wait until they serve; fetches them first if the cache
# lacks them. No-op for what already runs. Adds their E2E_GCS_*,
# E2E_REST_GCS_*, E2E_AZURITE* lines to .run/env when the test bed is up.
# Their storage is in memory: every start begins empty.
#
# usage: e2e/testbed/stores-start.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=stores.sh
source "$TESTBED_DIR/stores.sh"

ensure_dirs
exec 9>"$RUN_DIR/.lock"
flock -w 900 9 || die "another test-bed script holds $RUN_DIR/.lock"
start_stores
env_set_stores on
stores_env
