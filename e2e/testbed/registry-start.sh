#!/usr/bin/env bash
# Start just the schema registry (Apicurio Registry, Confluent-compatible API)
# and wait until it serves; builds it first if the cache lacks it. No-op if it
# already runs. Adds E2E_SCHEMA_REGISTRY to .run/env when the test bed is up;
# prints the registry's URL either way. Its storage is in memory: every start
# begins empty.
#
# usage: e2e/testbed/registry-start.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_dirs
exec 9>"$RUN_DIR/.lock"
flock -w 900 9 || die "another test-bed script holds $RUN_DIR/.lock"
fetch_apicurio
start_apicurio
wait_apicurio
env_set_registry "$SCHEMA_REGISTRY_URL"
printf 'E2E_SCHEMA_REGISTRY=%s\n' "$SCHEMA_REGISTRY_URL"
