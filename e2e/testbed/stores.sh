# shellcheck shell=bash disable=SC2034 # (variables are used by the sourcing scripts)
# The cloud object-store emulators of the e2e test bed (issue 15): fake-gcs-server
# (GCS) with a second Iceberg REST catalog whose warehouse is on it, and
# Azurite (Azure Blob). Sourced after lib.sh by stores-start.sh,
# stores-stop.sh, up.sh (E2E_WITH_STORES=1) and down.sh.

FAKEGCS_VERSION=v1.56.1
AZURITE_VERSION=3.37.0
FAKEGCS_BIN=$CACHE_DIR/bin/fake-gcs-server-$FAKEGCS_VERSION
AZURITE_HOME=$CACHE_DIR/azurite-$AZURITE_VERSION
AZURITE_BLOB=$AZURITE_HOME/node_modules/azurite/dist/src/blob/main.js

GCS_PORT=17080
GCS_BUCKET=floe-e2e
GCS_ENDPOINT=http://$HOST:$GCS_PORT
REST_GCS_PORT=18183
REST_GCS_WAREHOUSE=gs://$GCS_BUCKET/warehouse
AZURITE_PORT=17100
# Azurite's fixed development account and key (public, documented by Microsoft).
AZURITE_ACCOUNT=devstoreaccount1
AZURITE_KEY=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
AZURITE_BLOB_ENDPOINT=http://$HOST:$AZURITE_PORT/$AZURITE_ACCOUNT

GCS_DIR=$RUN_DIR/gcs
GCS_MARKER=$GCS_DIR/seed
AZURITE_DIR=$RUN_DIR/azurite
# A link to Azurite's blob server in the run directory: its path in the
# command line tells our Azurite from any other.
AZURITE_MARKER=$AZURITE_DIR/azurite-blob.js

fetch_fakegcs() {
  [[ -x $FAKEGCS_BIN ]] && return 0
  command -v go >/dev/null 2>&1 || die "go not found"
  log "building fake-gcs-server $FAKEGCS_VERSION with go install (~1 min on 2 cores)"
  mkdir -p "$CACHE_DIR/bin"
  local tmp
  tmp=$(mktemp -d "$CACHE_DIR/bin/.gobin.XXXXXX")
  (cd "$tmp" && GOBIN=$tmp GOFLAGS='' GOWORK=off go install "github.com/fsouza/fake-gcs-server@$FAKEGCS_VERSION")
  mv "$tmp/fake-gcs-server" "$FAKEGCS_BIN"
  rm -rf "$tmp"
}

fetch_azurite() {
  [[ -f $AZURITE_HOME/.complete && -f $AZURITE_BLOB ]] && return 0
  command -v npm >/dev/null 2>&1 || die "npm not found (apt-get install -y nodejs npm)"
  log "installing azurite@$AZURITE_VERSION from npm into $AZURITE_HOME"
  local tmp=$AZURITE_HOME.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  npm install --prefix "$tmp" --no-audit --no-fund --no-save --loglevel=error "azurite@$AZURITE_VERSION"
  [[ -f $tmp/node_modules/azurite/dist/src/blob/main.js ]] || die "azurite: blob server missing after npm install"
  touch "$tmp/.complete"
  rm -rf "$AZURITE_HOME"
  mv "$tmp" "$AZURITE_HOME"
}

gcs_healthy() {
  curl -sf -o /dev/null --max-time 2 "$GCS_ENDPOINT/storage/v1/b"
}

start_fakegcs() {
  svc_running fakegcs "$GCS_MARKER" && return 0
  port_open "$GCS_PORT" && die "fakegcs: port $GCS_PORT is in use by a process this test bed did not start"
  mkdir -p "$GCS_MARKER"
  log "fakegcs: starting fake-gcs-server on $HOST:$GCS_PORT"
  # In memory: every start begins empty. -public-host and -external-url:
  # without them the Go SDK's reads and resumable uploads get 404s.
  start_bg fakegcs -- "$FAKEGCS_BIN" -backend memory -data "$GCS_MARKER" -scheme http \
    -host "$HOST" -port "$GCS_PORT" -public-host "$HOST:$GCS_PORT" -external-url "$GCS_ENDPOINT" -log-level warn
}

wait_fakegcs() {
  wait_healthy fakegcs "$GCS_MARKER" "$HEALTH_TIMEOUT" gcs_healthy
  if ! curl -sf -o /dev/null --max-time 5 "$GCS_ENDPOINT/storage/v1/b/$GCS_BUCKET"; then
    curl -sf -o /dev/null --max-time 5 -X POST -H 'Content-Type: application/json' \
      -d "{\"name\":\"$GCS_BUCKET\"}" "$GCS_ENDPOINT/storage/v1/b?project=floe-e2e" ||
      { log "fakegcs: could not create bucket $GCS_BUCKET"; show_log fakegcs; exit 1; }
  fi
  log "fakegcs: healthy, bucket $GCS_BUCKET ready"
}

# start_rest_gcs: the reference REST catalog with GCSFileIO (the GCS client
# is in the iceberg-open-api jar) on fake-gcs-server, anonymous.
start_rest_gcs() {
  start_rest rest-gcs "$REST_GCS_PORT" \
    "CATALOG_WAREHOUSE=$REST_GCS_WAREHOUSE" \
    CATALOG_IO__IMPL=org.apache.iceberg.gcp.gcs.GCSFileIO \
    "CATALOG_GCS_SERVICE_HOST=$GCS_ENDPOINT" \
    CATALOG_GCS_NO__AUTH=true \
    CATALOG_GCS_PROJECT__ID=floe-e2e
}

azurite_healthy() {
  # Any HTTP answer (an unsigned request gets 403/400) means it serves.
  curl -s -o /dev/null --max-time 2 "$AZURITE_BLOB_ENDPOINT?comp=list"
}

start_azurite() {
  svc_running azurite "$AZURITE_MARKER" && return 0
  port_open "$AZURITE_PORT" && die "azurite: port $AZURITE_PORT is in use by a process this test bed did not start"
  command -v node >/dev/null 2>&1 || die "node not found"
  mkdir -p "$AZURITE_DIR"
  ln -sfn "$AZURITE_BLOB" "$AZURITE_MARKER"
  log "azurite: starting Azurite (blob) on $HOST:$AZURITE_PORT"
  start_bg azurite -- node "$AZURITE_MARKER" --blobHost "$HOST" --blobPort "$AZURITE_PORT" \
    --inMemoryPersistence --skipApiVersionCheck --loose --disableTelemetry
}

wait_azurite() {
  wait_healthy azurite "$AZURITE_MARKER" "$HEALTH_TIMEOUT" azurite_healthy
  log "azurite: healthy ($AZURITE_BLOB_ENDPOINT)"
}

stores_running() {
  svc_running fakegcs "$GCS_MARKER" && svc_running azurite "$AZURITE_MARKER" &&
    svc_running rest-gcs "$(rest_marker rest-gcs)"
}

# stores_env: the env-file lines of the store emulators.
stores_env() {
  cat <<EOT
E2E_GCS_ENDPOINT=$GCS_ENDPOINT
E2E_GCS_BUCKET=$GCS_BUCKET
E2E_REST_GCS_URI=http://$HOST:$REST_GCS_PORT
E2E_REST_GCS_WAREHOUSE=$REST_GCS_WAREHOUSE
E2E_AZURITE=$AZURITE_BLOB_ENDPOINT
E2E_AZURITE_ACCOUNT=$AZURITE_ACCOUNT
E2E_AZURITE_KEY=$AZURITE_KEY
EOT
}

# env_set_stores on|off: put the store lines into the env file, or take
# them out, if there is one. The env file stays whole (written aside, renamed).
env_set_stores() {
  [[ -f $ENV_FILE ]] || return 0
  {
    grep -v -E '^E2E_(GCS_|REST_GCS_|AZURITE)' "$ENV_FILE" || true
    [[ $1 == off ]] || stores_env
  } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# start_stores: fetch, start and wait for all three; the REST catalog waits
# for fake-gcs-server (it checks nothing at start, but tests would).
start_stores() {
  fetch_fakegcs
  fetch_azurite
  start_fakegcs
  start_azurite
  wait_fakegcs
  start_rest_gcs
  wait_azurite
  wait_rest rest-gcs "$REST_GCS_PORT"
}

stop_stores() {
  stop_svc rest-gcs "$(rest_marker rest-gcs)"
  stop_svc fakegcs "$GCS_MARKER"
  stop_svc azurite "$AZURITE_MARKER"
}
