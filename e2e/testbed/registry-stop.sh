#!/usr/bin/env bash
# Stop just the schema registry (SIGTERM, SIGKILL after 30 s) and take
# E2E_SCHEMA_REGISTRY out of .run/env. Its schemas are gone with it.
#
# usage: e2e/testbed/registry-stop.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_dirs
exec 9>"$RUN_DIR/.lock"
flock -w 900 9 || die "another test-bed script holds $RUN_DIR/.lock"
env_set_registry ""
stop_apicurio
