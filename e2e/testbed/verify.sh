#!/usr/bin/env bash
# Smoke-check a running test bed (after up.sh) with independent clients:
# Kafka wire probe, PyIceberg + DuckDB against both REST catalogs, S3 objects
# via boto3, PyIceberg SQL catalog on PostgreSQL; the schema registry with
# curl when the env file names one. Leaves nothing behind.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f $ENV_FILE ]] || die "$ENV_FILE missing: run up.sh first"
set -a
# shellcheck disable=SC1090
source "$ENV_FILE"
set +a
"$E2E_PYTHON" "$TESTBED_DIR/python/smoke.py"
if [[ -n ${E2E_SCHEMA_REGISTRY:-} ]]; then
  reg=$E2E_SCHEMA_REGISTRY
  ct='Content-Type: application/vnd.schemaregistry.v1+json'
  types=$(curl -sf --max-time 10 "$reg/schemas/types") || die "schema registry: GET $reg/schemas/types failed"
  for t in AVRO PROTOBUF JSON; do
    [[ $types == *"\"$t\""* ]] || die "schema registry: $t missing from $types"
  done
  subj=verify-$(date +%s)-$$-value
  schema='{"type":"record","name":"Verify","fields":[{"name":"id","type":"long"}]}'
  body=$(printf '{"schema":"%s"}' "${schema//\"/\\\"}")
  out=$(curl -sf --max-time 10 -H "$ct" -d "$body" "$reg/subjects/$subj/versions") ||
    die "schema registry: registering under $subj failed"
  id=$(sed -n 's/^{"id":\([0-9]*\)}$/\1/p' <<<"$out")
  [[ -n $id ]] || die "schema registry: unexpected answer to a registration: $out"
  got=$(curl -sf --max-time 10 "$reg/schemas/ids/$id") || die "schema registry: GET /schemas/ids/$id failed"
  [[ $got == *'"name\":\"Verify\"'* ]] || die "schema registry: /schemas/ids/$id answered $got"
  curl -sf --max-time 10 -X DELETE "$reg/subjects/$subj?permanent=true" >/dev/null ||
    die "schema registry: deleting $subj failed"
  log "schema registry: OK ($reg: types $types, registered and read back id $id)"
fi
