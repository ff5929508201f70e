#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) from Maven Central jars, bound to 127.0.0.1.
#
#   deploy/kafka/kafka.sh fetch     fetch the broker jars into $KAFKA_CACHE (idempotent)
#   deploy/kafka/kafka.sh up        fetch, format $KAFKA_DATA and start; waits until ready
#   deploy/kafka/kafka.sh down      stop the broker started from $KAFKA_DATA (clean shutdown)
#   deploy/kafka/kafka.sh status    exit 0 when the broker of $KAFKA_DATA is running
#
# Environment:
#   KAFKA_PORT         client port (default 9092); the controller listens on KAFKA_CONTROLLER_PORT
#                      (default KAFKA_PORT + 1)
#   KAFKA_DATA         data, config, pid and log folder (default ${TMPDIR:-/tmp}/interest-tracker-kafka-$KAFKA_PORT)
#   KAFKA_CACHE        jar cache (default ${XDG_CACHE_HOME:-~/.cache}/interest-tracker/kafka-<version>)
#   KAFKA_READY_TIMEOUT seconds to wait for readiness (default 90)
#   KAFKA_HEAP         JVM heap (default -Xms256m -Xmx1g)
#   KAFKA_SASL_PORT    also serve SASL_PLAINTEXT clients on this port (PLAIN, SCRAM-SHA-256 and
#                      SCRAM-SHA-512; default: no such listener), for one user:
#   KAFKA_SASL_USER, KAFKA_SASL_PASSWORD  (default it / it-secret; SCRAM's are set at format)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
port="${KAFKA_PORT:-9092}"
cport="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
data="${KAFKA_DATA:-${TMPDIR:-/tmp}/interest-tracker-kafka-$port}"
cache="${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/interest-tracker/kafka-$version}"
ready_timeout="${KAFKA_READY_TIMEOUT:-90}"
heap="${KAFKA_HEAP:--Xms256m -Xmx1g}"
sasl_port="${KAFKA_SASL_PORT:-}"
sasl_user="${KAFKA_SASL_USER:-it}"
sasl_password="${KAFKA_SASL_PASSWORD:-it-secret}"

log() { printf '[kafka] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

fetch() {
  if [[ -f "$cache/.complete" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Kafka $version; install it (e.g. apt-get install maven)"
  command -v java >/dev/null || die "Java 17+ is needed to run Kafka $version"
  log "fetching Apache Kafka $version and its runtime dependencies into $cache"
  local t0=$SECONDS
  mkdir -p "$cache.partial"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$cache.partial" >&2 \
    || die "mvn could not fetch org.apache.kafka:kafka_2.13:$version"
  rm -rf "$cache" && mv "$cache.partial" "$cache" && touch "$cache/.complete"
  log "fetched $(find "$cache" -name '*.jar' | wc -l) jars in $((SECONDS - t0)) s"
}

pid_alive() { [[ -f "$data/kafka.pid" ]] && kill -0 "$(cat "$data/kafka.pid")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_config() {
  mkdir -p "$data/logs" "$data/kraft"
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [[ -n "$sasl_port" ]]; then
    listeners+=",SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    advertised+=",SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    protocols+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  cat >"$data/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$data/kraft
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
EOF
  if [[ -n "$sasl_port" ]]; then
    cat >>"$data/server.properties" <<EOF
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$sasl_password";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  fi
  cat >"$data/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $data/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
EOF
}

java_cmd() {
  # shellcheck disable=SC2086
  java $heap -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$data/log4j2.properties" \
    -cp "$cache/*" "$@"
}

up() {
  fetch
  if pid_alive; then
    log "already running (pid $(cat "$data/kafka.pid")) on 127.0.0.1:$port"
    return 0
  fi
  if port_open "$port"; then
    die "port $port on 127.0.0.1 is taken by another process; set KAFKA_PORT"
  fi
  write_config
  if [[ ! -f "$data/kraft/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$data/logs/format.log")"
    local scram=()
    if [[ -n "$sasl_port" ]]; then
      scram=(--add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$sasl_password]"
             --add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$sasl_password]")
    fi
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$data/server.properties" \
      ${scram[@]+"${scram[@]}"} >>"$data/logs/format.log" 2>&1 || { tail -20 "$data/logs/format.log" >&2; die "formatting $data failed"; }
  fi
  local t0=$SECONDS
  log "starting Kafka $version on 127.0.0.1:$port (data $data)"
  # setsid: the broker outlives this script and gets its own process group for a clean stop
  setsid bash -c "exec $(printf '%q ' java $heap -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$data/log4j2.properties" -cp "$cache/*" kafka.Kafka "$data/server.properties")" \
    >"$data/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$data/kafka.pid"
  while ! grep -q "Kafka Server started" "$data/logs/server.log" 2>/dev/null || ! port_open "$port"; do
    if ! pid_alive; then
      tail -40 "$data/logs/server.log" "$data/logs/stdout.log" >&2 2>/dev/null || true
      die "Kafka exited during start-up (logs above, in $data/logs)"
    fi
    if (( SECONDS - t0 > ready_timeout )); then
      tail -40 "$data/logs/server.log" "$data/logs/stdout.log" >&2 2>/dev/null || true
      down
      die "Kafka was not ready on 127.0.0.1:$port after ${ready_timeout}s (log tail above)"
    fi
    sleep 0.2
  done
  log "ready on 127.0.0.1:$port in $((SECONDS - t0)) s (pid $(cat "$data/kafka.pid"))"
}

down() {
  if ! pid_alive; then
    rm -f "$data/kafka.pid"
    log "not running ($data)"
    return 0
  fi
  local pid
  pid="$(cat "$data/kafka.pid")"
  kill -TERM "$pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker did not stop in 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$data/kafka.pid"
  log "stopped (pid $pid)"
}

case "${1:-}" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) pid_alive ;;
  *) echo "usage: $0 fetch|up|down|status" >&2; exit 2 ;;
esac
