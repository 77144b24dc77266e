# shellcheck shell=bash disable=SC2034 # (variables are used by the sourcing scripts)
# More Iceberg catalogs for the floe e2e test bed (sourced by catalogs-start.sh
# and catalogs-stop.sh after lib.sh): moto (AWS Glue), a standalone Hive
# Metastore and Project Nessie (Iceberg REST). Every start begins empty (their
# state is in memory). Not meant to be run directly.

MOTO_VERSION=5.2.5
HIVE_VERSION=3.1.3
NESSIE_VERSION=0.108.8

MOTO_PORT=17200
HIVE_PORT=19083
NESSIE_PORT=19120
NESSIE_MGMT_PORT=19121 # Quarkus' management port (default 9000)

MOTO_VENV=$CACHE_DIR/moto-$MOTO_VERSION # its own venv: pip backtracks for minutes next to pyiceberg
HIVE_HOME=$CACHE_DIR/hive-metastore-$HIVE_VERSION
HIVE_SRC=$TESTBED_DIR/maven/hive
NESSIE_HOME=$CACHE_DIR/nessie-$NESSIE_VERSION
NESSIE_JAR=$NESSIE_HOME/nessie-quarkus-$NESSIE_VERSION-runner.jar
# Nessie 0.108 needs Java 21+ (Java 17 exits 1 without a word).
NESSIE_JAVA=${E2E_NESSIE_JAVA:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}

MOTO_DIR=$RUN_DIR/moto
HIVE_DIR=$RUN_DIR/hive
NESSIE_DIR=$RUN_DIR/nessie
MOTO_MARKER=$MOTO_DIR/moto
HIVE_MARKER=-Dfloe.testbed.service=$HIVE_DIR
NESSIE_MARKER=-Dfloe.testbed.service=$NESSIE_DIR
HIVE_WAREHOUSE=file://$HIVE_DIR/warehouse # the only scheme the metastore's own file checks accept here
NESSIE_WAREHOUSE=s3://$S3_BUCKET/nessie

# --- fetchers (no-ops when cached) ---

fetch_moto() {
  [[ -f $MOTO_VENV/.complete ]] && return 0
  local py=${E2E_TESTBED_PYTHON:-python3}
  log "creating the moto $MOTO_VERSION venv $MOTO_VENV"
  rm -rf "$MOTO_VENV"
  "$py" -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/python" -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  touch "$MOTO_VENV/.complete"
}

hive_launcher_src() { printf '%s\n' "$TESTBED_DIR/java/dev/floe/e2e/hms/MetastoreLauncher.java"; }

hive_launcher_dir() {
  printf '%s\n' "$HIVE_HOME/launcher-$(sha256sum "$(hive_launcher_src)" | cut -c1-12)"
}

fetch_hive() {
  if [[ ! -f $HIVE_HOME/.complete ]] || [[ $(cat "$HIVE_HOME/.complete") != "$(sha256sum <"$HIVE_SRC/pom.xml" | cut -c1-12)" ]]; then
    command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install -y maven)"
    log "fetching Hive Metastore $HIVE_VERSION jars from Maven Central"
    local tmp=$HIVE_HOME.tmp.$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    mvn -B -q -f "$HIVE_SRC/pom.xml" "$MAVEN_DEP_PLUGIN:copy-dependencies" \
      -DoutputDirectory="$tmp/libs" -DincludeScope=runtime
    ls "$tmp/libs/hive-standalone-metastore-$HIVE_VERSION.jar" >/dev/null
    sha256sum <"$HIVE_SRC/pom.xml" | cut -c1-12 >"$tmp/.complete"
    rm -rf "$HIVE_HOME"
    mv "$tmp" "$HIVE_HOME"
  fi
  local out
  out=$(hive_launcher_dir)
  if [[ ! -f $out/.complete ]]; then
    local javac=javac
    [[ -n ${JAVA_HOME:-} && -x ${JAVA_HOME}/bin/javac ]] && javac=$JAVA_HOME/bin/javac
    command -v "$javac" >/dev/null 2>&1 || die "javac not found (need a JDK >= 17)"
    log "compiling the Hive Metastore launcher"
    rm -rf "$out.tmp"
    mkdir -p "$out.tmp"
    "$javac" -proc:none --release 17 -nowarn -d "$out.tmp" -cp "$HIVE_HOME/libs/*" "$(hive_launcher_src)"
    touch "$out.tmp/.complete"
    rm -rf "$out"
    mv "$out.tmp" "$out"
  fi
}

fetch_nessie() {
  [[ -s $NESSIE_JAR ]] && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install -y maven)"
  log "fetching the Nessie $NESSIE_VERSION server (276 MB) from Maven Central"
  local tmp=$NESSIE_HOME.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  (cd "$tmp" && mvn -B -q "$MAVEN_DEP_PLUGIN:copy" \
    -Dartifact="org.projectnessie.nessie:nessie-quarkus:$NESSIE_VERSION:jar:runner" -DoutputDirectory="$tmp")
  [[ -s $tmp/nessie-quarkus-$NESSIE_VERSION-runner.jar ]] || die "nessie: runner jar missing after download"
  rm -rf "$NESSIE_HOME"
  mv "$tmp" "$NESSIE_HOME"
}

# --- moto (AWS Glue; S3 data stays on versitygw) ---

moto_healthy() { curl -sf -o /dev/null --max-time 2 "http://$HOST:$MOTO_PORT/moto-api/data.json"; }

start_moto() {
  svc_running moto "$MOTO_MARKER" && return 0
  port_open "$MOTO_PORT" && die "moto: port $MOTO_PORT is in use by a process this test bed did not start"
  mkdir -p "$MOTO_DIR"
  # The marker: moto_server run through a symlink under the run dir, so
  # its command line names this test bed.
  ln -sfn "$MOTO_VENV/bin/moto_server" "$MOTO_MARKER"
  log "moto: starting AWS Glue (moto $MOTO_VERSION) on $HOST:$MOTO_PORT"
  start_bg moto -- "$MOTO_VENV/bin/python" "$MOTO_MARKER" -H "$HOST" -p "$MOTO_PORT"
}

wait_moto() {
  wait_healthy moto "$MOTO_MARKER" "$HEALTH_TIMEOUT" moto_healthy
  log "moto: healthy (http://$HOST:$MOTO_PORT)"
}

# --- Hive Metastore 3.1.3 (Derby in memory, file:// warehouse) ---

# hive_healthy: the Thrift port accepts connections (the metastore opens it
# once its database is ready).
hive_healthy() { port_open "$HIVE_PORT"; }

start_hive() {
  svc_running hive "$HIVE_MARKER" && return 0
  port_open "$HIVE_PORT" && die "hive: port $HIVE_PORT is in use by a process this test bed did not start"
  rm -rf "$HIVE_DIR"
  mkdir -p "$HIVE_DIR/conf" "$HIVE_DIR/warehouse"
  cat >"$HIVE_DIR/conf/metastore-site.xml" <<EOF
<?xml version="1.0"?>
<configuration>
  <property><name>javax.jdo.option.ConnectionURL</name><value>jdbc:derby:memory:metastore;create=true</value></property>
  <property><name>javax.jdo.option.ConnectionDriverName</name><value>org.apache.derby.jdbc.EmbeddedDriver</value></property>
  <property><name>datanucleus.schema.autoCreateAll</name><value>true</value></property>
  <property><name>metastore.schema.verification</name><value>false</value></property>
  <property><name>metastore.thrift.port</name><value>$HIVE_PORT</value></property>
  <property><name>metastore.warehouse.dir</name><value>$HIVE_WAREHOUSE</value></property>
  <property><name>metastore.expression.proxy</name><value>org.apache.hadoop.hive.metastore.DefaultPartitionExpressionProxy</value></property>
  <!-- The lock reaper runs, so a lock left by a killed writer expires
       (metastore.txn.timeout) instead of blocking the table for good. -->
  <property><name>metastore.task.threads.always</name><value>org.apache.hadoop.hive.metastore.events.EventCleanerTask,org.apache.hadoop.hive.metastore.txn.AcidHouseKeeperService</value></property>
  <property><name>metastore.txn.timeout</name><value>20s</value></property>
  <property><name>metastore.timedout.txn.reaper.interval</name><value>5s</value></property>
  <property><name>metastore.event.db.notification.api.auth</name><value>false</value></property>
</configuration>
EOF
  local java
  java=$(java_bin)
  log "hive: starting Hive Metastore $HIVE_VERSION on port $HIVE_PORT"
  # The metastore 3.1 has no bind-host setting: it listens on every
  # interface of this machine.
  start_bg hive "HADOOP_USER_NAME=floe" -- "$java" -Xms64m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true "$HIVE_MARKER" \
    -Dderby.stream.error.file="$HIVE_DIR/derby.log" \
    -cp "$HIVE_DIR/conf:$(hive_launcher_dir):$HIVE_HOME/libs/*" dev.floe.e2e.hms.MetastoreLauncher -p "$HIVE_PORT"
}

wait_hive() {
  wait_healthy hive "$HIVE_MARKER" "$HEALTH_TIMEOUT" hive_healthy
  log "hive: healthy (thrift://$HOST:$HIVE_PORT, warehouse $HIVE_WAREHOUSE)"
}

# --- Project Nessie (Iceberg REST at /iceberg, prefix main; S3 warehouse on versitygw) ---

nessie_healthy() {
  curl -sf -o /dev/null --max-time 2 "http://$HOST:$NESSIE_PORT/iceberg/v1/config"
}

start_nessie() {
  svc_running nessie "$NESSIE_MARKER" && return 0
  port_open "$NESSIE_PORT" && die "nessie: port $NESSIE_PORT is in use by a process this test bed did not start"
  port_open "$NESSIE_MGMT_PORT" && die "nessie: port $NESSIE_MGMT_PORT is in use by a process this test bed did not start"
  [[ -x $NESSIE_JAVA ]] || die "nessie: $NESSIE_JAVA not found (Nessie $NESSIE_VERSION needs Java >= 21; set E2E_NESSIE_JAVA)"
  mkdir -p "$NESSIE_DIR"
  log "nessie: starting Nessie $NESSIE_VERSION on $HOST:$NESSIE_PORT"
  # Request signing off: with it, loadTable hands out an S3 remote signer
  # that iceberg-go lacks. The S3 keys reach Nessie as a Quarkus secret.
  start_bg nessie -- "$NESSIE_JAVA" -Xms64m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true "$NESSIE_MARKER" \
    -Dquarkus.http.host="$HOST" -Dquarkus.http.port="$NESSIE_PORT" \
    -Dquarkus.management.host="$HOST" -Dquarkus.management.port="$NESSIE_MGMT_PORT" \
    -Dquarkus.log.console.level=WARN -Dquarkus.banner.enabled=false \
    -Dnessie.version.store.type=IN_MEMORY \
    -Dnessie.catalog.default-warehouse=warehouse \
    -Dnessie.catalog.warehouses.warehouse.location="$NESSIE_WAREHOUSE" \
    -Dnessie.catalog.service.s3.default-options.endpoint="http://$HOST:$S3_PORT/" \
    -Dnessie.catalog.service.s3.default-options.region="$S3_REGION" \
    -Dnessie.catalog.service.s3.default-options.path-style-access=true \
    -Dnessie.catalog.service.s3.default-options.request-signing-enabled=false \
    -Dnessie.catalog.service.s3.default-options.access-key=urn:nessie-secret:quarkus:floe-testbed.s3 \
    -Dfloe-testbed.s3.name="$S3_ACCESS_KEY" -Dfloe-testbed.s3.secret="$S3_SECRET_KEY" \
    -jar "$NESSIE_JAR"
}

wait_nessie() {
  wait_healthy nessie "$NESSIE_MARKER" "$HEALTH_TIMEOUT" nessie_healthy
  log "nessie: healthy (http://$HOST:$NESSIE_PORT/iceberg, warehouse $NESSIE_WAREHOUSE)"
}

# env_set_catalogs: put the E2E_GLUE/E2E_HIVE/E2E_NESSIE lines into the env
# file if there is one (with no argument: take them out).
env_set_catalogs() {
  [[ -f $ENV_FILE ]] || return 0
  {
    grep -v -e '^E2E_GLUE' -e '^E2E_HIVE' -e '^E2E_NESSIE' "$ENV_FILE" || true
    [[ ${1:-} == set ]] && catalogs_env
  } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

catalogs_env() {
  cat <<EOF
E2E_GLUE=http://$HOST:$MOTO_PORT
E2E_HIVE=thrift://$HOST:$HIVE_PORT
E2E_HIVE_WAREHOUSE=$HIVE_WAREHOUSE
E2E_NESSIE=http://$HOST:$NESSIE_PORT/iceberg
E2E_NESSIE_WAREHOUSE=warehouse
EOF
}
