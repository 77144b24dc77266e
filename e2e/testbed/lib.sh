# shellcheck shell=bash disable=SC2034 # (variables are used by the sourcing scripts)
# Shared settings and helpers for the floe e2e test bed (sourced by up.sh,
# down.sh, kafka-start.sh, kafka-stop.sh). Not meant to be run directly.

# ---------------------------------------------------------------------------
# Versions (bump here; every cache path is keyed on them)
# ---------------------------------------------------------------------------
KAFKA_VERSION=4.4.0
LOG4J_VERSION=2.25.3
ICEBERG_VERSION=1.10.1
VERSITYGW_VERSION=v1.8.0
APICURIO_VERSION=2.4.2.Final # built by maven/apicurio/pom.xml (Quarkus 2.16.4.Final)
MAVEN_DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

# ---------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------
TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN_DIR=$TESTBED_DIR/.run
LOG_DIR=$RUN_DIR/logs
PID_DIR=$RUN_DIR/pids
ENV_FILE=$RUN_DIR/env
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/floe

KAFKA_HOME=$CACHE_DIR/kafka-$KAFKA_VERSION
ICEBERG_REST_HOME=$CACHE_DIR/iceberg-rest-$ICEBERG_VERSION
ICEBERG_REST_JAR=$ICEBERG_REST_HOME/iceberg-open-api-$ICEBERG_VERSION.jar
VERSITYGW_BIN=$CACHE_DIR/bin/versitygw-$VERSITYGW_VERSION
APICURIO_HOME=$CACHE_DIR/apicurio-$APICURIO_VERSION
APICURIO_JAR=$APICURIO_HOME/quarkus-app/quarkus-run.jar
APICURIO_SRC=$TESTBED_DIR/maven/apicurio
PY_REQUIREMENTS=$TESTBED_DIR/python/requirements.txt

# ---------------------------------------------------------------------------
# Endpoints and fixed test credentials (loopback only)
# ---------------------------------------------------------------------------
HOST=127.0.0.1
KAFKA_PORT=19092
KAFKA_CONTROLLER_PORT=19093
KAFKA_CLUSTER_ID=ZmxvZS1lMmUtdGVzdGJlZA # base64url("floe-e2e-testbed"), fixed
# Secured listeners (issue 13). PLAINTEXT above stays as it is for every
# other test; its principal (User:ANONYMOUS) is a super user.
KAFKA_SASL_SSL_PORT=19094 # SASL_SSL: SCRAM-SHA-512/256, PLAIN, OAUTHBEARER (unsecured JWT)
KAFKA_MTLS_PORT=19095     # SSL with ssl.client.auth=required; CN=<name> -> User:<name>
# Test-only Kafka users (documented in README.md). floe-admin is a super user
# (SCRAM-SHA-512, PLAIN; an OAUTHBEARER token with sub=floe-admin too); the
# others have no ACLs unless a test grants some (floe-noacl never gets any).
KAFKA_ADMIN_USER=floe-admin
KAFKA_ADMIN_PASSWORD=floe-admin-secret
KAFKA_SCRAM512_USER=floe-scram
KAFKA_SCRAM512_PASSWORD=floe-scram-secret
KAFKA_SCRAM256_USER=floe-scram256
KAFKA_SCRAM256_PASSWORD=floe-scram256-secret
KAFKA_NOACL_USER=floe-noacl
KAFKA_NOACL_PASSWORD=floe-noacl-secret
KAFKA_PLAIN_USER=floe-plain
KAFKA_PLAIN_PASSWORD=floe-plain-secret
KAFKA_MTLS_USER=floe-mtls # CN of the mTLS client certificate
REST_FILE_PORT=18181
REST_S3_PORT=18182
S3_PORT=17070
S3_ACCESS_KEY=floe-e2e-access-key
S3_SECRET_KEY=floe-e2e-secret-key-not-a-real-secret
S3_REGION=us-east-1
S3_BUCKET=floe-e2e
PG_PORT=15432
PG_USER=floe
PG_PASSWORD=floe
PG_DB=floe_catalog
# Apicurio Registry (optional: only with E2E_WITH_REGISTRY=1 or registry-start.sh)
APICURIO_PORT=18081
SCHEMA_REGISTRY_URL=http://$HOST:$APICURIO_PORT/apis/ccompat/v7

REST_FILE_WAREHOUSE=file://$RUN_DIR/rest-file/warehouse
REST_S3_WAREHOUSE=s3://$S3_BUCKET/warehouse

# Seconds each service gets to become healthy.
HEALTH_TIMEOUT=${E2E_TESTBED_HEALTH_TIMEOUT:-120}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
log() { printf '[testbed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

die() {
  log "ERROR: $*"
  exit 1
}

ensure_dirs() {
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$PID_DIR" "$CACHE_DIR"
  chmod 755 "$RUN_DIR"
}

# show_log NAME: last 50 lines of a service log, for failures.
show_log() {
  local f=$LOG_DIR/$1.log
  if [[ -f $f ]]; then
    log "last 50 lines of $f:"
    tail -n 50 "$f" >&2
  else
    log "(no log file $f)"
  fi
}

# port_open PORT: something accepts TCP connections on HOST:PORT.
port_open() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# read_pid NAME: print the recorded pid of a service (empty if none).
read_pid() {
  local f=$PID_DIR/$1.pid
  [[ -s $f ]] && tr -dc '0-9' <"$f"
  return 0
}

# pid_matches PID MARKER: PID is alive and its command line contains MARKER,
# so a recycled pid of an unrelated process is never taken for ours.
pid_matches() {
  local pid=$1 marker=$2
  [[ -n $pid ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

# svc_running NAME MARKER: the recorded process of NAME is alive.
svc_running() {
  pid_matches "$(read_pid "$1")" "$2"
}

# start_bg NAME [ENV=VAL ...] -- CMD...: start CMD detached (own session),
# stdout+stderr appended to logs/NAME.log, pid recorded in pids/NAME.pid.
# The pid is the one of CMD itself (bash execs it).
start_bg() {
  local name=$1
  shift
  local envs=()
  while [[ $# -gt 0 && $1 != -- ]]; do
    envs+=("$1")
    shift
  done
  [[ ${1:-} == -- ]] && shift
  local pidfile=$PID_DIR/$name.pid logfile=$LOG_DIR/$name.log
  rm -f "$pidfile"
  printf '\n===== %s starting %s =====\n' "$(date '+%F %T')" "$name" >>"$logfile"
  # shellcheck disable=SC2016 # $$ and $@ are expanded by the inner bash.
  setsid env "${envs[@]}" bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$logfile" 2>&1 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  die "$name: no pid file after start"
}

# wait_healthy NAME MARKER TIMEOUT CHECK...: poll CHECK until it succeeds.
# Fails (with the log tail) on timeout or when the process dies.
wait_healthy() {
  local name=$1 marker=$2 timeout=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if ! svc_running "$name" "$marker"; then
      log "$name: process exited before becoming healthy"
      show_log "$name"
      exit 1
    fi
    sleep 0.5
  done
  log "$name: not healthy after ${timeout}s"
  show_log "$name"
  exit 1
}

# stop_svc NAME MARKER [SIGNAL] [TIMEOUT]: signal the recorded process, wait
# for it to exit, SIGKILL after TIMEOUT seconds. Only ever touches a pid that
# this test bed recorded and whose command line still matches MARKER.
stop_svc() {
  local name=$1 marker=$2 sig=${3:-TERM} timeout=${4:-30}
  local pid
  pid=$(read_pid "$name")
  if ! pid_matches "$pid" "$marker"; then
    rm -f "$PID_DIR/$name.pid"
    return 0
  fi
  log "stopping $name (pid $pid, SIG$sig)"
  kill "-$sig" "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while pid_matches "$pid" "$marker" && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if pid_matches "$pid" "$marker"; then
    log "$name did not exit in ${timeout}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_matches "$pid" "$marker"; do sleep 0.1; done
  fi
  rm -f "$PID_DIR/$name.pid"
}

# java_bin: the java to run (JAVA_HOME first), must be >= 17.
java_bin() {
  local j=java
  [[ -n ${JAVA_HOME:-} && -x ${JAVA_HOME}/bin/java ]] && j=$JAVA_HOME/bin/java
  command -v "$j" >/dev/null 2>&1 || die "java not found (need a JDK >= 17, e.g. apt-get install -y openjdk-17-jdk-headless)"
  local v
  v=$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
  [[ ${v%%.*} =~ ^[0-9]+$ && ${v%%.*} -ge 17 ]] || die "$j is Java $v; need >= 17"
  printf '%s\n' "$j"
}

# venv_dir: the cached Python venv, keyed on requirements + python version.
venv_dir() {
  local py=${E2E_TESTBED_PYTHON:-python3} key
  key=$( (cat "$PY_REQUIREMENTS"; "$py" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-12)
  printf '%s\n' "$CACHE_DIR/venv-$key"
}

# probe_python: a python3 for the stdlib-only probes (venv if present).
probe_python() {
  local v
  v=$(venv_dir)/bin/python
  if [[ -x $v ]]; then printf '%s\n' "$v"; else printf '%s\n' "${E2E_TESTBED_PYTHON:-python3}"; fi
}

# ---------------------------------------------------------------------------
# Kafka (shared by up.sh and kafka-start.sh / kafka-stop.sh)
# ---------------------------------------------------------------------------
KAFKA_DIR=$RUN_DIR/kafka
KAFKA_CONFIG=$KAFKA_DIR/server.properties
KAFKA_MARKER=$KAFKA_CONFIG
KAFKA_TLS_DIR=$KAFKA_DIR/tls
# Written after a successful storage format; records what was formatted in
# (the SCRAM users), so a data dir formatted by an older test bed is redone.
KAFKA_FORMAT_MARKER=$KAFKA_DIR/format.done
KAFKA_FORMAT_REV=2 # bump to make every test bed reformat (data is disposable)

fetch_kafka() {
  [[ -f $KAFKA_HOME/.complete ]] && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install -y maven)"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central"
  local tmp=$KAFKA_HOME.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  mvn -B -q -f "$TESTBED_DIR/maven/kafka/pom.xml" \
    -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
    "$MAVEN_DEP_PLUGIN:copy-dependencies" \
    -DoutputDirectory="$tmp/libs" -DincludeScope=runtime
  ls "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null
  touch "$tmp/.complete"
  rm -rf "$KAFKA_HOME"
  mv "$tmp" "$KAFKA_HOME"
}

kafka_healthy() {
  "$(probe_python)" "$TESTBED_DIR/python/kafka_probe.py" "$HOST" "$KAFKA_PORT"
}

# _kafka_pki_make: make the test PKI in the current directory (see kafka_pki).
_kafka_pki_make() {
  mkdir -p ca-db/new && : >ca-db/index.txt && echo 1000 >ca-db/serial || return 1
  cat >openssl.cnf <<'EOF'
# floe e2e test bed: throw-away test PKI, never a secret.
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
# "openssl ca" (only for the expired certificate: it takes a start date)
[ca]
default_ca = test_ca
[test_ca]
database = ca-db/index.txt
new_certs_dir = ca-db/new
serial = ca-db/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[policy_any]
organizationName = optional
commonName = supplied
EOF
  # Runs in "if !": errexit does not apply here, so every step checks itself.
  local org='/O=floe e2e testbed'
  # Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"): what openssl 3 genpkey writes,
  # what Go's tls.LoadX509KeyPair and Kafka's PEM key store read.
  key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1-key.pem"; }
  serial() { printf '0x%s' "$(openssl rand -hex 16)"; }
  ca() { # NAME SUBJECT
    key "$1" &&
      openssl req -x509 -new -config openssl.cnf -key "$1-key.pem" -subj "$2" -sha256 -days 3650 \
        -set_serial "$(serial)" -extensions ca_ext -out "$1.pem"
  }
  cert() { # NAME CA EXTENSIONS SUBJECT
    key "$1" &&
      openssl req -new -config openssl.cnf -key "$1-key.pem" -subj "$4" -out "$1.csr" &&
      openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2-key.pem" -set_serial "$(serial)" \
        -sha256 -days 3650 -extfile openssl.cnf -extensions "$3" -out "$1.pem"
  }
  ca ca "$org/CN=floe e2e test CA" || return 1
  cert broker ca server_ext "$org/CN=localhost" || return 1
  cert client ca client_ext "$org/CN=$KAFKA_MTLS_USER" || return 1
  ca other-ca "/O=floe e2e unrelated/CN=floe e2e other CA" || return 1
  cert other-client other-ca client_ext "$org/CN=$KAFKA_MTLS_USER" || return 1
  # Expired (valid for one day in 2020), signed by the real CA: openssl 3.0's
  # x509 has no start date option, "openssl ca" has.
  key expired-client || return 1
  openssl req -new -config openssl.cnf -key expired-client-key.pem -subj "$org/CN=$KAFKA_MTLS_USER" \
    -out expired-client.csr || return 1
  openssl ca -batch -config openssl.cnf -name test_ca -cert ca.pem -keyfile ca-key.pem \
    -in expired-client.csr -out expired-client.pem -notext \
    -startdate 20200101000000Z -enddate 20200102000000Z -extfile openssl.cnf -extensions client_ext || return 1
  # The broker's PEM key store: private key, then its certificate chain.
  cat broker-key.pem broker.pem >broker-keystore.pem || return 1
  rm -rf ./*.csr ca-db
  openssl verify -CAfile ca.pem broker.pem client.pem || return 1
  openssl verify -CAfile other-ca.pem other-client.pem || return 1
  chmod 600 ./*-key.pem broker-keystore.pem || return 1
  chmod 644 ca.pem broker.pem client.pem other-ca.pem other-client.pem expired-client.pem
}

# kafka_pki: the test PKI of the secured listeners in $KAFKA_TLS_DIR, made
# once; made again (every file) only when it is incomplete or the broker's
# certificate expires within a day. Called only while the broker is down.
KAFKA_PKI_FILES=(ca.pem ca-key.pem broker.pem broker-key.pem broker-keystore.pem client.pem client-key.pem
  other-ca.pem other-ca-key.pem other-client.pem other-client-key.pem expired-client.pem expired-client-key.pem)

# kafka_pki_ok: the PKI is complete and the broker certificate is good for
# at least another day.
kafka_pki_ok() {
  local d=$KAFKA_TLS_DIR f
  [[ -f $d/.complete ]] || return 1
  for f in "${KAFKA_PKI_FILES[@]}"; do
    [[ -s $d/$f ]] || return 1
  done
  openssl x509 -checkend 86400 -noout -in "$d/broker.pem" >/dev/null 2>&1
}

kafka_pki() {
  local d=$KAFKA_TLS_DIR
  kafka_pki_ok && return 0
  command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install -y openssl)"
  log "kafka: generating the test PKI in $d"
  local tmp=$d.tmp.$$ plog=$LOG_DIR/kafka-pki.log
  rm -rf "$tmp"
  mkdir -p "$tmp"
  printf '\n===== %s kafka PKI =====\n' "$(date '+%F %T')" >>"$plog"
  if ! (cd "$tmp" && _kafka_pki_make) >>"$plog" 2>&1; then
    rm -rf "$tmp"
    log "kafka: generating the test PKI failed; last 50 lines of $plog:"
    tail -n 50 "$plog" >&2
    exit 1
  fi
  touch "$tmp/.complete"
  rm -rf "$d"
  mv "$tmp" "$d"
}

# kafka_scram_args: the SCRAM users the storage is formatted with (KRaft
# keeps SCRAM credentials in the metadata log; format adds the first ones).
kafka_scram_args() {
  local u
  for u in "SCRAM-SHA-512=[name=$KAFKA_ADMIN_USER,password=$KAFKA_ADMIN_PASSWORD]" \
    "SCRAM-SHA-512=[name=$KAFKA_SCRAM512_USER,password=$KAFKA_SCRAM512_PASSWORD]" \
    "SCRAM-SHA-256=[name=$KAFKA_SCRAM256_USER,password=$KAFKA_SCRAM256_PASSWORD]" \
    "SCRAM-SHA-512=[name=$KAFKA_NOACL_USER,password=$KAFKA_NOACL_PASSWORD]" \
    "SCRAM-SHA-256=[name=$KAFKA_NOACL_USER,password=$KAFKA_NOACL_PASSWORD]"; do
    printf '%s\n' --add-scram "$u"
  done
}

# kafka_format_spec: what the format marker must say for the data dir to be
# current: the format revision and the SCRAM users.
kafka_format_spec() {
  printf 'rev=%s cluster=%s\n' "$KAFKA_FORMAT_REV" "$KAFKA_CLUSTER_ID"
  kafka_scram_args
}

# kafka_config_text: the broker's server.properties.
kafka_config_text() {
  local tls=$KAFKA_TLS_DIR
  cat <<EOF
# Generated by e2e/testbed (lib.sh). Single-node KRaft broker+controller.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT,SASL_SSL://$HOST:$KAFKA_SASL_SSL_PORT,SSL://$HOST:$KAFKA_MTLS_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_SSL://$HOST:$KAFKA_SASL_SSL_PORT,SSL://$HOST:$KAFKA_MTLS_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
log.dirs=$KAFKA_DIR/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
delete.topic.enable=true
# Tests use short session timeouts and want fast first rebalances.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
# KIP-848 (consumer protocol) groups are on by default in 4.x (setting
# group.coordinator.rebalance.protocols is deprecated since 4.2). Short
# broker-side session/heartbeat so a killed consumer is fenced in ~10 s.
group.consumer.min.session.timeout.ms=1000
group.consumer.session.timeout.ms=10000
group.consumer.min.heartbeat.interval.ms=500
group.consumer.heartbeat.interval.ms=1000
# --- Authorization (issue 13). The PLAINTEXT and CONTROLLER listeners'
# principal, User:ANONYMOUS, is a super user: everything on $KAFKA_PORT keeps
# full rights. Anyone else needs ACLs (no ACL = denied).
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:$KAFKA_ADMIN_USER
allow.everyone.if.no.acl.found=false
# --- SASL_SSL on $KAFKA_SASL_SSL_PORT: server TLS only (test CA), then SASL.
# PEM key store: the file holds an UNENCRYPTED PKCS#8 key plus the chain, so
# no ssl.key.password (and a PEM store never takes ssl.keystore.password).
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$tls/broker-keystore.pem
listener.name.sasl_ssl.ssl.client.auth=none
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_ADMIN_USER="$KAFKA_ADMIN_PASSWORD" user_$KAFKA_PLAIN_USER="$KAFKA_PLAIN_PASSWORD";
# No callback handler and no JWKS URL: the broker validates OAUTHBEARER tokens
# with the built-in unsecured validator (alg "none" JWTs; principal = "sub").
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="$KAFKA_ADMIN_USER";
# Sessions on this listener last at most 60 s: clients must re-authenticate
# (KIP-368), which exercises token/credential refresh.
listener.name.sasl_ssl.connections.max.reauth.ms=60000
# --- SSL on $KAFKA_MTLS_PORT: mutual TLS, client certificates from the test CA.
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$tls/broker-keystore.pem
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$tls/ca.pem
listener.name.ssl.ssl.client.auth=required
# "CN=floe-mtls,O=floe e2e testbed" -> User:floe-mtls
listener.name.ssl.ssl.principal.mapping.rules=RULE:^CN=([^,]+).*\$/\$1/,DEFAULT
EOF
}

write_kafka_config() {
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  kafka_config_text >"$KAFKA_CONFIG.tmp"
  mv "$KAFKA_CONFIG.tmp" "$KAFKA_CONFIG"
  cat >"$KAFKA_DIR/log4j2.properties" <<'EOF'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.kafkaapache.name = org.apache.kafka
logger.kafkaapache.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
logger.coordinator.name = org.apache.kafka.coordinator
logger.coordinator.level = INFO
EOF
}

# kafka_ports_busy: any of the broker's ports accepts connections.
kafka_ports_busy() {
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_MTLS_PORT"; do
    port_open "$p" && return 0
  done
  return 1
}

# start_kafka: start the broker unless ours is already running (no wait).
# A running broker whose config is not what this lib.sh writes (a test bed
# started before the secured listeners existed) is restarted.
start_kafka() {
  if svc_running kafka "$KAFKA_MARKER"; then
    local cur
    cur=$(cat "$KAFKA_CONFIG" 2>/dev/null || true)
    if [[ $cur == "$(kafka_config_text)" ]] && kafka_pki_ok &&
      [[ $(cat "$KAFKA_FORMAT_MARKER" 2>/dev/null || true) == "$(kafka_format_spec)" ]]; then
      return 0
    fi
    log "kafka: the running broker has an older config, PKI or storage format: restarting it"
    stop_kafka TERM
  fi
  if kafka_ports_busy; then
    die "kafka: one of ports $KAFKA_PORT, $KAFKA_CONTROLLER_PORT, $KAFKA_SASL_SSL_PORT, $KAFKA_MTLS_PORT is in use by a process this test bed did not start"
  fi
  local java
  java=$(java_bin)
  kafka_pki
  write_kafka_config
  local cp="$KAFKA_HOME/libs/*"
  local jvm=(-Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    -Dlog4j2.shutdownHookEnabled=false
    "-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties" "-Dkafka.logs.dir=$KAFKA_DIR/logs")
  local spec
  spec=$(kafka_format_spec)
  if [[ -f $KAFKA_DIR/data/meta.properties && $(cat "$KAFKA_FORMAT_MARKER" 2>/dev/null || true) != "$spec" ]]; then
    # Formatted by an older test bed (e.g. without the SCRAM users): the
    # data is disposable, format again.
    log "kafka: storage was formatted without the current SCRAM users: deleting $KAFKA_DIR/data and formatting again"
    rm -rf "$KAFKA_DIR/data"
    mkdir -p "$KAFKA_DIR/data"
  fi
  if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
    rm -f "$KAFKA_FORMAT_MARKER"
    log "kafka: formatting storage (cluster id $KAFKA_CLUSTER_ID, SCRAM users)"
    local scram=()
    mapfile -t scram < <(kafka_scram_args)
    if ! "$java" "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format --standalone --ignore-formatted \
      -t "$KAFKA_CLUSTER_ID" -c "$KAFKA_CONFIG" "${scram[@]}" >>"$LOG_DIR/kafka.log" 2>&1; then
      log "kafka: storage format failed"
      show_log kafka
      exit 1
    fi
    printf '%s\n' "$spec" >"$KAFKA_FORMAT_MARKER"
  fi
  log "kafka: starting broker on $HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT, SASL_SSL $HOST:$KAFKA_SASL_SSL_PORT, mTLS $HOST:$KAFKA_MTLS_PORT)"
  start_bg kafka -- "$java" "${jvm[@]}" -cp "$cp" kafka.Kafka "$KAFKA_CONFIG"
}

# kafka_secured_ports_open: both secured listeners accept TCP connections.
kafka_secured_ports_open() {
  port_open "$KAFKA_SASL_SSL_PORT" && port_open "$KAFKA_MTLS_PORT"
}

wait_kafka() {
  wait_healthy kafka "$KAFKA_MARKER" "$HEALTH_TIMEOUT" kafka_healthy
  wait_healthy kafka "$KAFKA_MARKER" "$HEALTH_TIMEOUT" kafka_secured_ports_open
  kafka_pki_ok || die "kafka: the test PKI in $KAFKA_TLS_DIR is incomplete: run up.sh again (it restarts the broker)"
  log "kafka: healthy (PLAINTEXT $KAFKA_PORT, SASL_SSL $KAFKA_SASL_SSL_PORT, mTLS $KAFKA_MTLS_PORT)"
}

stop_kafka() {
  # SIGTERM = controlled shutdown; the broker needs a few seconds.
  stop_svc kafka "$KAFKA_MARKER" "${1:-TERM}" 60
}

# ---------------------------------------------------------------------------
# Fetchers (each is a no-op when its cache entry is complete)
# ---------------------------------------------------------------------------
rest_launcher_src() { printf '%s\n' "$TESTBED_DIR/java/org/apache/iceberg/rest/LoopbackRESTCatalogServer.java"; }

rest_launcher_dir() {
  printf '%s\n' "$ICEBERG_REST_HOME/launcher-$(sha256sum "$(rest_launcher_src)" | cut -c1-12)"
}

fetch_iceberg_rest() {
  if [[ ! -f $ICEBERG_REST_HOME/.complete ]]; then
    command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install -y maven)"
    log "fetching iceberg-open-api $ICEBERG_VERSION (REST catalog server fat jar) from Maven Central"
    local tmp=$ICEBERG_REST_HOME.tmp.$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    (cd "$tmp" && mvn -B -q "$MAVEN_DEP_PLUGIN:copy" \
      -Dartifact="org.apache.iceberg:iceberg-open-api:$ICEBERG_VERSION" -DoutputDirectory="$tmp")
    [[ -s $tmp/iceberg-open-api-$ICEBERG_VERSION.jar ]] || die "iceberg-open-api jar missing after download"
    touch "$tmp/.complete"
    rm -rf "$ICEBERG_REST_HOME"
    mv "$tmp" "$ICEBERG_REST_HOME"
  fi
  local out
  out=$(rest_launcher_dir)
  if [[ ! -f $out/.complete ]]; then
    local javac=javac
    [[ -n ${JAVA_HOME:-} && -x ${JAVA_HOME}/bin/javac ]] && javac=$JAVA_HOME/bin/javac
    command -v "$javac" >/dev/null 2>&1 || die "javac not found (need a JDK >= 17)"
    log "compiling the loopback REST launcher"
    rm -rf "$out.tmp"
    mkdir -p "$out.tmp"
    "$javac" -proc:none --release 17 -nowarn -d "$out.tmp" -cp "$ICEBERG_REST_JAR" "$(rest_launcher_src)"
    touch "$out.tmp/.complete"
    rm -rf "$out"
    mv "$out.tmp" "$out"
  fi
}

fetch_versitygw() {
  [[ -x $VERSITYGW_BIN ]] && return 0
  command -v go >/dev/null 2>&1 || die "go not found"
  log "building versitygw $VERSITYGW_VERSION with go install (takes ~2 min on 2 cores)"
  mkdir -p "$CACHE_DIR/bin"
  local tmp
  tmp=$(mktemp -d "$CACHE_DIR/bin/.gobin.XXXXXX")
  # Outside any module/workspace, with the caller's GOFLAGS ignored.
  (cd "$tmp" && GOBIN=$tmp GOFLAGS='' GOWORK=off go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION")
  mv "$tmp/versitygw" "$VERSITYGW_BIN"
  rm -rf "$tmp"
}

# apicurio_src_hash: hash of the Maven project that builds the registry, so
# an edit to it rebuilds the cached application.
apicurio_src_hash() {
  (cd "$APICURIO_SRC" && find . -path ./target -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
    sha256sum | cut -c1-12
}

# fetch_apicurio: build Apicurio Registry once (~70 s with an empty ~/.m2,
# 30-55 s with a warm one) into $APICURIO_HOME/quarkus-app; .complete holds the
# hash of maven/apicurio it was built from. The build runs in a copy of the
# project, so nothing is written into the repository.
fetch_apicurio() {
  local want
  want=$(apicurio_src_hash)
  [[ -f $APICURIO_HOME/.complete && $(cat "$APICURIO_HOME/.complete") == "$want" && -s $APICURIO_JAR ]] && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install -y maven)"
  java_bin >/dev/null
  log "building Apicurio Registry $APICURIO_VERSION (Quarkus app) with Maven"
  local tmp=$APICURIO_HOME.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp/src"
  cp -R "$APICURIO_SRC/pom.xml" "$APICURIO_SRC/src" "$tmp/src/"
  # Quarkus probes for docker/podman during the build: harmless, nothing uses them.
  mvn -B -q -f "$tmp/src/pom.xml" -Dapicurio.version="$APICURIO_VERSION" \
    -Dmaven.test.skip=true package
  [[ -s $tmp/src/target/quarkus-app/quarkus-run.jar ]] || die "apicurio: quarkus-run.jar missing after the build"
  mv "$tmp/src/target/quarkus-app" "$tmp/quarkus-app"
  rm -rf "$tmp/src"
  printf '%s\n' "$want" >"$tmp/.complete"
  rm -rf "$APICURIO_HOME"
  mv "$tmp" "$APICURIO_HOME"
}

fetch_venv() {
  local v
  v=$(venv_dir)
  [[ -f $v/.complete ]] && return 0
  local py=${E2E_TESTBED_PYTHON:-python3}
  command -v "$py" >/dev/null 2>&1 || die "$py not found"
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || die "$py is older than 3.10"
  log "creating Python venv $v (pyiceberg, duckdb, boto3, matplotlib)"
  rm -rf "$v"
  "$py" -m venv "$v"
  "$v/bin/python" -m pip install -q --disable-pip-version-check -r "$PY_REQUIREMENTS"
  "$v/bin/python" "$TESTBED_DIR/python/check_venv.py"
  touch "$v/.complete"
}

# ---------------------------------------------------------------------------
# versitygw (S3)
# ---------------------------------------------------------------------------
S3_DIR=$RUN_DIR/s3
S3_MARKER=$S3_DIR/data

s3_healthy() {
  # Any HTTP answer (an anonymous request gets 403) means it serves.
  curl -s -o /dev/null --max-time 2 "http://$HOST:$S3_PORT/"
}

start_versitygw() {
  svc_running versitygw "$S3_MARKER" && return 0
  port_open "$S3_PORT" && die "versitygw: port $S3_PORT is in use by a process this test bed did not start"
  mkdir -p "$S3_DIR/data" "$S3_DIR/iam"
  local posix_opts=()
  # The posix backend keeps object metadata in user xattrs; fall back to a
  # sidecar directory where the file system has none.
  if ! "$(probe_python)" -c 'import os, sys; p = sys.argv[1] + "/.xattr-probe"; open(p, "w").close(); os.setxattr(p, "user.probe", b"1"); os.remove(p)' "$S3_DIR" 2>/dev/null; then
    mkdir -p "$S3_DIR/meta"
    posix_opts+=(--sidecar "$S3_DIR/meta")
  fi
  log "versitygw: starting S3 on $HOST:$S3_PORT"
  start_bg versitygw "ROOT_ACCESS_KEY=$S3_ACCESS_KEY" "ROOT_SECRET_KEY=$S3_SECRET_KEY" -- \
    "$VERSITYGW_BIN" --port "$HOST:$S3_PORT" --region "$S3_REGION" --iam-dir "$S3_DIR/iam" --quiet \
    posix "${posix_opts[@]}" "$S3_DIR/data"
}

wait_versitygw() {
  wait_healthy versitygw "$S3_MARKER" "$HEALTH_TIMEOUT" s3_healthy
  "$(venv_dir)/bin/python" "$TESTBED_DIR/python/s3_bucket.py" "http://$HOST:$S3_PORT" \
    "$S3_ACCESS_KEY" "$S3_SECRET_KEY" "$S3_REGION" "$S3_BUCKET" >>"$LOG_DIR/versitygw.log" 2>&1 ||
    { log "versitygw: could not create bucket $S3_BUCKET"; show_log versitygw; exit 1; }
  log "versitygw: healthy, bucket $S3_BUCKET ready"
}

# ---------------------------------------------------------------------------
# Iceberg REST catalogs (reference Java server, JDBC/SQLite backend)
# ---------------------------------------------------------------------------
rest_marker() { printf '%s\n' "-Dfloe.testbed.service=$RUN_DIR/$1"; }

rest_healthy() {
  curl -sf -o /dev/null --max-time 2 "http://$HOST:$1/v1/config"
}

# start_rest NAME PORT [CATALOG_*=... ...]
start_rest() {
  local name=$1 port=$2
  shift 2
  local marker
  marker=$(rest_marker "$name")
  svc_running "$name" "$marker" && return 0
  port_open "$port" && die "$name: port $port is in use by a process this test bed did not start"
  mkdir -p "$RUN_DIR/$name"
  local java
  java=$(java_bin)
  log "$name: starting Iceberg REST catalog on $HOST:$port"
  # env -i: the server turns every CATALOG_* variable into a catalog
  # property, so none may leak in from the caller's environment.
  start_bg "$name" -i "PATH=$PATH" "HOME=$HOME" "REST_HOST=$HOST" "CATALOG_REST_PORT=$port" \
    "CATALOG_URI=jdbc:sqlite:$RUN_DIR/$name/catalog.db" \
    CATALOG_JDBC_USER=user CATALOG_JDBC_PASSWORD=password CATALOG_CLIENTS=1 \
    "$@" -- \
    "$java" -Xms64m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true "$marker" \
    -cp "$(rest_launcher_dir):$ICEBERG_REST_JAR" org.apache.iceberg.rest.LoopbackRESTCatalogServer
}

start_rest_file() {
  mkdir -p "$RUN_DIR/rest-file/warehouse"
  start_rest rest-file "$REST_FILE_PORT" "CATALOG_WAREHOUSE=$REST_FILE_WAREHOUSE"
}

start_rest_s3() {
  start_rest rest-s3 "$REST_S3_PORT" \
    "CATALOG_WAREHOUSE=$REST_S3_WAREHOUSE" \
    CATALOG_IO__IMPL=org.apache.iceberg.aws.s3.S3FileIO \
    "CATALOG_S3_ENDPOINT=http://$HOST:$S3_PORT" \
    CATALOG_S3_PATH__STYLE__ACCESS=true \
    "CATALOG_S3_ACCESS__KEY__ID=$S3_ACCESS_KEY" \
    "CATALOG_S3_SECRET__ACCESS__KEY=$S3_SECRET_KEY" \
    "CATALOG_CLIENT_REGION=$S3_REGION" \
    "AWS_REGION=$S3_REGION" "AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY" "AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY" \
    AWS_EC2_METADATA_DISABLED=true
}

wait_rest() {
  local name=$1 port=$2
  wait_healthy "$name" "$(rest_marker "$name")" "$HEALTH_TIMEOUT" rest_healthy "$port"
  log "$name: healthy (http://$HOST:$port)"
}

# ---------------------------------------------------------------------------
# PostgreSQL (floe's SQL catalog backend)
# ---------------------------------------------------------------------------
PG_BIN=
PG_OS_USER=
PG_DATA=
AS_PG=()

# pg_find_bin: the newest /usr/lib/postgresql/*/bin, else postgres' dir on PATH.
pg_find_bin() {
  local d best=
  while IFS= read -r d; do
    [[ -x $d/postgres && -x $d/initdb && -x $d/pg_isready && -x $d/psql ]] && best=$d
  done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
  if [[ -z $best ]] && command -v postgres >/dev/null 2>&1; then
    best=$(dirname "$(readlink -f "$(command -v postgres)")")
  fi
  printf '%s\n' "$best"
}

# pg_data_dir: where the cluster lives (no side effects).
pg_data_dir() {
  PG_DATA=$(readlink -f "$RUN_DIR/pg" 2>/dev/null || printf '%s' "$RUN_DIR/pg")/data
}

pg_setup_env() {
  PG_BIN=$(pg_find_bin)
  if [[ -z $PG_BIN ]]; then
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL server not installed (apt-get install -y postgresql)"
    log "postgres: installing the server with apt-get (log: $LOG_DIR/postgres-install.log)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } \
      >>"$LOG_DIR/postgres-install.log" 2>&1; then
      tail -n 50 "$LOG_DIR/postgres-install.log" >&2
      die "apt-get install postgresql failed"
    fi
    PG_BIN=$(pg_find_bin)
    [[ -n $PG_BIN ]] || die "PostgreSQL binaries not found after install"
  fi
  # The server refuses to run as root: run it as 'postgres' when we are root.
  # setpriv execs (no fork), so the recorded pid is the postmaster's.
  if [[ $(id -u) -eq 0 ]]; then
    PG_OS_USER=postgres
    id -u "$PG_OS_USER" >/dev/null 2>&1 ||
      useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER"
    AS_PG=(setpriv "--reuid=$PG_OS_USER" "--regid=$PG_OS_USER" --init-groups --)
  fi
  # Data lives in .run/pg unless that path is not reachable for the server's
  # user (e.g. a clone under a 0700 home): then in /tmp, linked from .run/pg.
  local link=$RUN_DIR/pg
  if [[ ! -e $link ]]; then
    mkdir -p "$link"
    [[ -n $PG_OS_USER ]] && chown "$PG_OS_USER:" "$link"
    if ! as_pg test -w "$link"; then
      rmdir "$link"
      local alt
      alt=${TMPDIR:-/tmp}/floe-e2e-pg-$(printf '%s' "$RUN_DIR" | sha256sum | cut -c1-12)
      mkdir -p "$alt"
      chmod 700 "$alt"
      chown "$PG_OS_USER:" "$alt"
      ln -s "$alt" "$link"
      log "postgres: $RUN_DIR is not reachable for user $PG_OS_USER; data in $alt"
    fi
  fi
  pg_data_dir
}

# as_pg CMD...: run CMD as the PostgreSQL OS user.
as_pg() {
  "${AS_PG[@]}" "$@"
}

pg_healthy() {
  "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -d postgres -t 2
}

start_postgres() {
  pg_setup_env
  svc_running postgres "$PG_DATA" && return 0
  port_open "$PG_PORT" && die "postgres: port $PG_PORT is in use by a process this test bed did not start"
  if [[ ! -f $PG_DATA/PG_VERSION ]]; then
    log "postgres: initdb $PG_DATA"
    local dir pw
    dir=$(dirname "$PG_DATA")
    rm -rf "$PG_DATA"
    pw=$dir/.pwfile
    printf '%s\n' "$PG_PASSWORD" >"$pw"
    chmod 600 "$pw"
    [[ -n $PG_OS_USER ]] && chown "$PG_OS_USER:" "$pw"
    if ! (cd "$dir" && as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$pw" \
      -A scram-sha-256 -E UTF8 --no-locale --no-sync) >>"$LOG_DIR/postgres.log" 2>&1; then
      rm -f "$pw"
      log "postgres: initdb failed"
      show_log postgres
      exit 1
    fi
    rm -f "$pw"
    cat >>"$PG_DATA/postgresql.conf" <<PGCONF

# --- floe e2e test bed (throw-away cluster: durability off for speed) ---
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
PGCONF
  fi
  log "postgres: starting on $HOST:$PG_PORT (data $PG_DATA)"
  start_bg postgres -- "${AS_PG[@]}" "$PG_BIN/postgres" -D "$PG_DATA"
}

wait_postgres() {
  wait_healthy postgres "$PG_DATA" "$HEALTH_TIMEOUT" pg_healthy
  local psql=("$PG_BIN/psql" -X -q -h "$HOST" -p "$PG_PORT" -U "$PG_USER" -v ON_ERROR_STOP=1)
  if ! PGPASSWORD=$PG_PASSWORD "${psql[@]}" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
    PGPASSWORD=$PG_PASSWORD "${psql[@]}" -d postgres -c "CREATE DATABASE $PG_DB" >>"$LOG_DIR/postgres.log" 2>&1 ||
      { log "postgres: CREATE DATABASE $PG_DB failed"; show_log postgres; exit 1; }
  fi
  log "postgres: healthy, database $PG_DB ready"
}

stop_postgres() {
  pg_data_dir
  # SIGINT = PostgreSQL "fast" shutdown.
  stop_svc postgres "$PG_DATA" INT 60
}

# ---------------------------------------------------------------------------
# Apicurio Registry 2.4.2 (schema registry, Confluent-compatible API at
# /apis/ccompat/v7; H2 in memory: every start begins empty). Optional: up.sh
# starts it with E2E_WITH_REGISTRY=1, registry-start.sh on its own.
# ---------------------------------------------------------------------------
APICURIO_DIR=$RUN_DIR/apicurio
APICURIO_MARKER=-Dfloe.testbed.service=$APICURIO_DIR

# apicurio_healthy: the ccompat API answers GET /subjects with a JSON array.
apicurio_healthy() {
  local body
  body=$(curl -sf --max-time 2 "$SCHEMA_REGISTRY_URL/subjects") || return 1
  [[ $body == \[* ]]
}

apicurio_running() {
  svc_running apicurio "$APICURIO_MARKER"
}

# start_apicurio: start the registry unless ours is already running (no wait).
start_apicurio() {
  apicurio_running && return 0
  port_open "$APICURIO_PORT" && die "apicurio: port $APICURIO_PORT is in use by a process this test bed did not start"
  [[ -s $APICURIO_JAR ]] || die "apicurio: $APICURIO_JAR missing (fetch_apicurio)"
  mkdir -p "$APICURIO_DIR"
  local java
  java=$(java_bin)
  log "apicurio: starting Apicurio Registry $APICURIO_VERSION on $HOST:$APICURIO_PORT"
  start_bg apicurio -- "$java" -Xms64m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true "$APICURIO_MARKER" \
    -Dquarkus.http.host="$HOST" -Dquarkus.http.port="$APICURIO_PORT" \
    -Dquarkus.transaction-manager.object-store-directory="$APICURIO_DIR/ObjectStore" \
    -jar "$APICURIO_JAR"
}

wait_apicurio() {
  wait_healthy apicurio "$APICURIO_MARKER" "$HEALTH_TIMEOUT" apicurio_healthy
  log "apicurio: healthy ($SCHEMA_REGISTRY_URL)"
}

stop_apicurio() {
  stop_svc apicurio "$APICURIO_MARKER" TERM 30
}

# env_set_registry URL: put E2E_SCHEMA_REGISTRY=URL into the env file if
# there is one ("": take the line out). The env file stays whole: it is
# rewritten into a temporary file and renamed.
env_set_registry() {
  [[ -f $ENV_FILE ]] || return 0
  { grep -v '^E2E_SCHEMA_REGISTRY=' "$ENV_FILE" || true; [[ -z $1 ]] || printf 'E2E_SCHEMA_REGISTRY=%s\n' "$1"; } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}
