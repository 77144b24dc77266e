#!/usr/bin/env bash
# Smoke-check a running test bed (after up.sh) with independent clients:
# Kafka wire probe, PyIceberg + DuckDB against both REST catalogs, S3 objects
# via boto3, PyIceberg SQL catalog on PostgreSQL. Leaves nothing behind.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f $ENV_FILE ]] || die "$ENV_FILE missing: run up.sh first"
set -a
# shellcheck disable=SC1090
source "$ENV_FILE"
set +a
"$E2E_PYTHON" "$TESTBED_DIR/python/smoke.py"
