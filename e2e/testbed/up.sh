#!/usr/bin/env bash
# Start the floe e2e test bed: Kafka (KRaft), two Iceberg REST catalogs
# (file:// and S3), versitygw (S3), PostgreSQL, plus a Python venv with
# PyIceberg and DuckDB. Idempotent: what already runs healthy is left alone.
# Writes e2e/testbed/.run/env (KEY=VALUE lines) when everything is healthy.
# With E2E_WITH_REGISTRY=1 it also builds (once) and starts Apicurio Registry
# (a schema registry with a Confluent-compatible API); a registry already
# running (registry-start.sh) is kept and named in the env file either way.
# With E2E_WITH_STORES=1 it also starts the cloud object-store emulators
# (stores.sh: fake-gcs-server, a REST catalog on it, Azurite); likewise kept
# and named when already running (stores-start.sh).
#
# With E2E_WITH_CATALOGS=1 it then starts moto (Glue), a Hive Metastore and
# Nessie (catalogs-start.sh), which add their lines to the env file.
#
# usage: [E2E_WITH_REGISTRY=1] [E2E_WITH_STORES=1] [E2E_WITH_CATALOGS=1] e2e/testbed/up.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=stores.sh
source "$TESTBED_DIR/stores.sh"

ensure_dirs
exec 9>"$RUN_DIR/.lock"
flock -w 900 9 || die "another up.sh/down.sh holds $RUN_DIR/.lock"
T0=$SECONDS
case "${E2E_WITH_REGISTRY:-0}" in
  1) with_registry=1 ;;
  0 | "") with_registry=0 ;;
  *) die "E2E_WITH_REGISTRY=${E2E_WITH_REGISTRY}: use 1 (start the schema registry) or 0" ;;
esac
case "${E2E_WITH_CATALOGS:-0}" in
  1) with_catalogs=1 ;;
  0 | "") with_catalogs=0 ;;
  *) die "E2E_WITH_CATALOGS=${E2E_WITH_CATALOGS}: use 1 (start moto, a Hive Metastore and Nessie) or 0" ;;
esac
case "${E2E_WITH_STORES:-0}" in
  1) with_stores=1 ;;
  0 | "") with_stores=0 ;;
  *) die "E2E_WITH_STORES=${E2E_WITH_STORES}: use 1 (start the object-store emulators) or 0" ;;
esac

# --- 1. fetch and cache (in parallel; each step is a no-op when cached) ---
# The Maven fetches share ~/.m2, so they run one after the other.
fetch_maven() {
  fetch_kafka
  fetch_iceberg_rest
  if ((with_registry)); then fetch_apicurio; fi
}
fetchers=(fetch_maven fetch_versitygw fetch_venv)
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
log "artifacts ready ($((SECONDS - T0))s)"

# --- 2. start (everything that does not depend on another service) ---
start_versitygw
start_postgres
start_rest_file
if ((with_registry)); then start_apicurio; fi
start_kafka

# --- 3. wait for health, then what depends on it ---
wait_versitygw
start_rest_s3
wait_postgres
wait_rest rest-file "$REST_FILE_PORT"
wait_rest rest-s3 "$REST_S3_PORT"
wait_kafka
registry=
if ((with_registry)) || apicurio_running; then
  wait_apicurio
  registry=$SCHEMA_REGISTRY_URL
fi

# --- 4. env file for the tests (written last: present = all healthy) ---
cat >"$ENV_FILE.tmp" <<EOF
E2E_KAFKA=$HOST:$KAFKA_PORT
E2E_KAFKA_SASL_SSL=$HOST:$KAFKA_SASL_SSL_PORT
E2E_KAFKA_MTLS=$HOST:$KAFKA_MTLS_PORT
E2E_KAFKA_TLS_DIR=$KAFKA_TLS_DIR
E2E_KAFKA_ADMIN_USER=$KAFKA_ADMIN_USER
E2E_KAFKA_ADMIN_PASSWORD=$KAFKA_ADMIN_PASSWORD
E2E_KAFKA_SCRAM512_USER=$KAFKA_SCRAM512_USER
E2E_KAFKA_SCRAM512_PASSWORD=$KAFKA_SCRAM512_PASSWORD
E2E_KAFKA_SCRAM256_USER=$KAFKA_SCRAM256_USER
E2E_KAFKA_SCRAM256_PASSWORD=$KAFKA_SCRAM256_PASSWORD
E2E_KAFKA_NOACL_USER=$KAFKA_NOACL_USER
E2E_KAFKA_NOACL_PASSWORD=$KAFKA_NOACL_PASSWORD
E2E_KAFKA_PLAIN_USER=$KAFKA_PLAIN_USER
E2E_KAFKA_PLAIN_PASSWORD=$KAFKA_PLAIN_PASSWORD
E2E_KAFKA_MTLS_USER=$KAFKA_MTLS_USER
E2E_REST_FILE_URI=http://$HOST:$REST_FILE_PORT
E2E_REST_FILE_WAREHOUSE=$REST_FILE_WAREHOUSE
E2E_REST_S3_URI=http://$HOST:$REST_S3_PORT
E2E_REST_S3_WAREHOUSE=$REST_S3_WAREHOUSE
E2E_S3_ENDPOINT=http://$HOST:$S3_PORT
E2E_S3_ACCESS_KEY=$S3_ACCESS_KEY
E2E_S3_SECRET_KEY=$S3_SECRET_KEY
E2E_S3_REGION=$S3_REGION
E2E_S3_BUCKET=$S3_BUCKET
E2E_PG_DSN=postgres://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/$PG_DB?sslmode=disable
E2E_PYTHON=$(venv_dir)/bin/python
E2E_KAFKA_HOME=$KAFKA_HOME
E2E_RUN_DIR=$RUN_DIR
E2E_KAFKA_START=$TESTBED_DIR/kafka-start.sh
E2E_KAFKA_STOP=$TESTBED_DIR/kafka-stop.sh
EOF
if [[ -n $registry ]]; then
  printf 'E2E_SCHEMA_REGISTRY=%s\n' "$registry" >>"$ENV_FILE.tmp"
fi
if ((with_stores)); then start_stores; fi
if stores_running; then stores_env >>"$ENV_FILE.tmp"; fi
mv "$ENV_FILE.tmp" "$ENV_FILE"
# The extra catalogs: started when asked; ones already running (from
# catalogs-start.sh) are kept and named in the env file either way.
if ((with_catalogs)) || [[ -s $PID_DIR/moto.pid || -s $PID_DIR/hive.pid || -s $PID_DIR/nessie.pid ]]; then
  E2E_TESTBED_LOCKED=1 "$TESTBED_DIR/catalogs-start.sh" >/dev/null
fi
log "test bed up in $((SECONDS - T0))s; env: $ENV_FILE"
