#!/usr/bin/env bash
# eng/bench-live.sh: the live pipeline measured on its own database, vhost and Redis database.
#   1. each consumer's apply rate on a queued backlog (EVENTS events over ACCOUNTS accounts, consumer started after);
#   2. the whole system (eng/run.sh) under deposits through the load balancer for DURATION_SECONDS per concurrency,
#      with the delay from a command's 200 to its effect in GET /api/accounts/{id}, and CPU per process.
#   EVENTS=100000 ACCOUNTS=10000 DURATION_SECONDS=60 CONCURRENCIES=1,8,32 eng/bench-live.sh
# Stop a running eng/run.sh first: this one uses the same ports.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"
EVENTS=${EVENTS:-100000}
ACCOUNTS=${ACCOUNTS:-10000}
SECONDS_PER_ROW=${DURATION_SECONDS:-60}
CONCURRENCIES=${CONCURRENCIES:-1,8,32}

bench_prepare
for consumer in balances statistics; do
  name=${consumer^}
  bench backlog --consumer "$consumer" --events "$EVENTS" --accounts "$ACCOUNTS" \
    --service "$ROOT/Endpoints/EventReplay.Consumers.$name/bin/Release/net10.0/EventReplay.Consumers.$name.dll" \
    --readmodels "$ConnectionStrings__readmodels" --rabbitmq "$BENCH_AMQP" --redis "$BENCH_REDIS"
done

# The backlog left the read models ahead of an empty log; start the system from a clean state.
psql -h 127.0.0.1 -p "$READMODELS_PORT" -U eventreplay -d "$DB" -XqAt \
  -c "drop schema if exists balances cascade" -c "drop schema if exists statistics cascade" 2>/dev/null
for queue in balances.live statistics.live; do
  curl -fs -u "$USER_PASS" -X DELETE "$MGMT/queues/$VHOST/$queue/contents" -o /dev/null || true
done

bench_start_system
bench live --url "http://127.0.0.1:$PORT" --seconds "$SECONDS_PER_ROW" --concurrency "$CONCURRENCIES"
