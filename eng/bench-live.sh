#!/usr/bin/env bash
# eng/bench-live.sh: the live pipeline measured on its own database, vhost and Redis database.
#   1. each consumer's apply rate on a queued backlog (EVENTS events over ACCOUNTS accounts, consumer started after);
#   2. the whole system (eng/run.sh) under deposits through the load balancer for SECONDS per concurrency, with the
#      delay from a command's 200 to its effect in GET /api/accounts/{id}, and CPU per process.
#   EVENTS=100000 ACCOUNTS=10000 DURATION_SECONDS=60 CONCURRENCIES=1,8,32 eng/bench-live.sh
# Stop a running eng/run.sh first: this one uses the same ports.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
EVENTS=${EVENTS:-100000}
ACCOUNTS=${ACCOUNTS:-10000}
SECONDS_PER_ROW=${DURATION_SECONDS:-60}
CONCURRENCIES=${CONCURRENCIES:-1,8,32}
PORT=${EVENTREPLAY_HTTP_PORT:-8080}
DB=eventreplay_bench
VHOST=eventreplay_bench
USER_PASS=eventreplay:eventreplay
MGMT="http://127.0.0.1:${ER_RABBIT_MGMT_PORT:-15672}/api"
export ConnectionStrings__postgres="Host=127.0.0.1;Port=${ER_PG_PORT:-5432};Username=eventreplay;Password=eventreplay;Database=$DB;Timeout=3;Command Timeout=4;Cancellation Timeout=-1;Keepalive=10"
export ConnectionStrings__rabbitmq="amqp://$USER_PASS@127.0.0.1:${ER_AMQP_PORT:-5672}/$VHOST"
export ConnectionStrings__redis="127.0.0.1:${ER_REDIS_PORT:-6379},defaultDatabase=2"

if curl -fs -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; then
  echo "bench: something already serves :$PORT (eng/run.sh?); stop it first" >&2
  exit 1
fi
eng/services.sh start >/dev/null
dotnet build EventReplay.sln -c Release -nologo -v:q -clp:ErrorsOnly >/dev/null
dotnet build Tests/EventReplay.Benchmarks -c Release -nologo -v:q -clp:ErrorsOnly >/dev/null

# A fresh database and vhost per run.
export PGPASSWORD=eventreplay
psql -h 127.0.0.1 -p "${ER_PG_PORT:-5432}" -U eventreplay -d eventreplay -XqAt \
  -c "drop database if exists $DB with (force)" -c "create database $DB"
curl -fs -u "$USER_PASS" -X DELETE "$MGMT/vhosts/$VHOST" -o /dev/null || true
curl -fs -u "$USER_PASS" -X PUT "$MGMT/vhosts/$VHOST" -o /dev/null
curl -fs -u "$USER_PASS" -X PUT -H 'content-type: application/json' \
  -d '{"configure":".*","write":".*","read":".*"}' "$MGMT/permissions/$VHOST/eventreplay" -o /dev/null

bench() { dotnet Tests/EventReplay.Benchmarks/bin/Release/net10.0/EventReplay.Benchmarks.dll "$@"; }
for consumer in balances statistics; do
  name=${consumer^}
  bench backlog --consumer "$consumer" --events "$EVENTS" --accounts "$ACCOUNTS" \
    --service "$ROOT/Endpoints/EventReplay.Consumers.$name/bin/Release/net10.0/EventReplay.Consumers.$name.dll" \
    --postgres "$ConnectionStrings__postgres" --rabbitmq "$ConnectionStrings__rabbitmq" --redis "$ConnectionStrings__redis"
done

# The backlog left the read models ahead of an empty log; start the system from a clean state.
psql -h 127.0.0.1 -p "${ER_PG_PORT:-5432}" -U eventreplay -d "$DB" -XqAt \
  -c "drop schema if exists balances cascade" -c "drop schema if exists statistics cascade"
for queue in balances.live statistics.live; do
  curl -fs -u "$USER_PASS" -X DELETE "$MGMT/queues/$VHOST/$queue/contents" -o /dev/null || true
done

mkdir -p .local/logs
Logging__LogLevel__Default=Warning eng/run.sh > .local/logs/bench-live-run.log 2>&1 &
system=$!
trap 'kill -TERM $system 2>/dev/null || true; wait $system 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/api/events?limit=1" && break
  kill -0 $system 2>/dev/null || { echo "bench: eng/run.sh exited; see .local/logs/bench-live-run.log" >&2; exit 1; }
  sleep 0.5
done
bench live --url "http://127.0.0.1:$PORT" --seconds "$SECONDS_PER_ROW" --concurrency "$CONCURRENCIES"
