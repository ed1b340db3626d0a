# eng/bench/lib.sh: what the eng/bench-*.sh scripts and eng/soak.sh share: their own database (in both PostgreSQL
# clusters, the event store's and the read models'), vhost and Redis database, the Release build, and the whole system
# (eng/run.sh) started over them. Source it from a script that set -euo pipefail; a script other than the benchmarks
# names its own data first (RUN_NAME=soak RUN_REDIS_DB=6): the database and vhost eventreplay_$RUN_NAME, messages and
# the system's log (.local/logs/$RUN_NAME-run.log) by that name. With ER_EVENTSTORE_HA=1 the event store is the
# pg_auto_failover formation (eng/pg-formation.sh, synchronous replication) instead of one server.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ROOT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
PORT=${EVENTREPLAY_HTTP_PORT:-8080}
RUN_NAME=${RUN_NAME:-bench}
DB=eventreplay_$RUN_NAME
VHOST=eventreplay_$RUN_NAME
REDIS_DB=${RUN_REDIS_DB:-2}   # test runs use 1-5
RUN_LOG=.local/logs/$RUN_NAME-run.log
source eng/secrets.sh
source eng/broker-users.sh
# The broker's administrator, for the vhost's making (eng/services.sh made its password).
USER_PASS="eventreplay:$(secret rabbitmq/eventreplay)"
# The database roles' passwords: the local password file, not the connection strings.
PGPASSFILE=$(secret_pgpass)
export PGPASSFILE
MGMT="http://127.0.0.1:${ER_RABBIT_MGMT_PORT:-15672}/api"
EVENTSTORE_PORT=${ER_PG_EVENTSTORE_PORT:-5433}
READMODELS_PORT=${ER_PG_PORT:-5432}
SERVICE_OPTIONS="Username=eventreplay;Database=$DB;Timeout=3;Command Timeout=4;Cancellation Timeout=-1;Keepalive=10"
if [[ ${ER_EVENTSTORE_HA:-0} == 1 ]]; then
  HA_PORT=${ER_PG_HA_PORT:-5440}
  EVENTSTORE_HOSTS="Host=127.0.0.1:$((HA_PORT + 1)),127.0.0.1:$((HA_PORT + 2));Target Session Attributes=primary;Host Recheck Seconds=1"
  EVENTSTORE_PSQL="host=127.0.0.1,127.0.0.1 port=$((HA_PORT + 1)),$((HA_PORT + 2)) target_session_attrs=read-write"
else
  EVENTSTORE_HOSTS="Host=127.0.0.1;Port=$EVENTSTORE_PORT"
  EVENTSTORE_PSQL="host=127.0.0.1 port=$EVENTSTORE_PORT"
fi
# The services connect as the owner of the run's own database and make their tables at start (no eng/migrate.sh).
export Database__Schema=apply
export ConnectionStrings__eventstore="$EVENTSTORE_HOSTS;$SERVICE_OPTIONS"
export ConnectionStrings__readmodels="Host=127.0.0.1;Port=$READMODELS_PORT;$SERVICE_OPTIONS"
# Each service as its own broker user, on the run's vhost (eng/run.sh); the harness as the administrator.
export ER_AMQP_VHOST=$VHOST
BENCH_AMQP="amqp://$USER_PASS@127.0.0.1:${ER_AMQP_PORT:-5672}/$VHOST"
# The consumers as their own Redis users on the run's database (eng/run.sh); the harness as the administrator.
export ER_REDIS_DB=$REDIS_DB
BENCH_REDIS="127.0.0.1:${ER_REDIS_PORT:-6379},user=eventreplay,password=$(secret redis/eventreplay),defaultDatabase=$REDIS_DB"
# The harness's own connections may run long statements (seeding, verifying).
BENCH_EVENTSTORE="$EVENTSTORE_HOSTS;Username=eventreplay;Database=$DB;Command Timeout=600"
BENCH_READMODELS="Host=127.0.0.1;Port=$READMODELS_PORT;Username=eventreplay;Database=$DB;Command Timeout=600"

bench_prepare() {  # services up, Release build, a fresh database and vhost
  if curl -fs -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; then
    echo "$RUN_NAME: something already serves :$PORT (eng/run.sh?); stop it first" >&2
    exit 1
  fi
  eng/services.sh start >/dev/null
  mkdir -p .local/logs && : > "$RUN_LOG"
  dotnet build EventReplay.sln -c Release -nologo -v:q -clp:ErrorsOnly >/dev/null
  local server
  for server in "$EVENTSTORE_PSQL" "host=127.0.0.1 port=$READMODELS_PORT"; do
    psql "$server user=eventreplay dbname=eventreplay" -XqAt \
      -c "drop database if exists $DB with (force)" -c "create database $DB"
  done
  curl -fs -u "$USER_PASS" -X DELETE "$MGMT/vhosts/$VHOST" -o /dev/null || true
  curl -fs -u "$USER_PASS" -X PUT "$MGMT/vhosts/$VHOST" -o /dev/null
  curl -fs -u "$USER_PASS" -X PUT -H 'content-type: application/json' \
    -d '{"configure":".*","write":".*","read":".*"}' "$MGMT/permissions/$VHOST/eventreplay" -o /dev/null
  # The services' users and their permissions on the vhost (eng/broker-users.sh).
  curl -fs -u "$USER_PASS" -X POST -H 'content-type: application/json' -d "$(broker_definitions "$VHOST")" \
    "$MGMT/definitions" -o /dev/null
}

bench() { dotnet Tests/EventReplay.Benchmarks/bin/Release/net10.0/EventReplay.Benchmarks.dll "$@"; }

bench_start_system() {  # eng/run.sh in the background over the bench database; stopped when the script exits
  mkdir -p .local/logs
  echo "=== $RUN_NAME: system start $(date -u +%FT%TZ)" >> "$RUN_LOG"
  # The benchmarks measure the system, not its per-client limits: one client drives all the load.
  Logging__LogLevel__Default=Warning RateLimits__Commands__PerSecond=1000000 RateLimits__Commands__Burst=1000000 \
    RateLimits__Reads__PerSecond=1000000 RateLimits__Reads__Burst=1000000 RateLimits__Replays__PerSecond=1000 \
    RateLimits__Replays__Burst=1000 eng/run.sh >> "$RUN_LOG" 2>&1 &
  BENCH_SYSTEM=$!
  trap 'kill -TERM $BENCH_SYSTEM 2>/dev/null || true; wait $BENCH_SYSTEM 2>/dev/null || true' EXIT
  for _ in $(seq 1 240); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/openapi/v1.json" && return 0
    kill -0 $BENCH_SYSTEM 2>/dev/null || { echo "$RUN_NAME: eng/run.sh exited; see $RUN_LOG" >&2; exit 1; }
    sleep 0.5
  done
  echo "$RUN_NAME: the system did not come up; see $RUN_LOG" >&2
  exit 1
}

bench_stop_system() {
  kill -TERM "$BENCH_SYSTEM" 2>/dev/null || true
  wait "$BENCH_SYSTEM" 2>/dev/null || true
  trap - EXIT
}
