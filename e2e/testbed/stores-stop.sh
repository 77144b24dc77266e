#!/usr/bin/env bash
# Stop just the cloud object-store emulators (stores-start.sh) and take their
# lines out of .run/env. Their objects are gone with them.
#
# usage: e2e/testbed/stores-stop.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=stores.sh
source "$TESTBED_DIR/stores.sh"

ensure_dirs
exec 9>"$RUN_DIR/.lock"
flock -w 900 9 || die "another test-bed script holds $RUN_DIR/.lock"
env_set_stores off
stop_stores
