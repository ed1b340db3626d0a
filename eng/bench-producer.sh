#!/usr/bin/env bash
# eng/bench-producer.sh: throughput and latency of single-event commands (deposits) through the producer,
# measured with wrk against a Release build on its own database. Prints one line per concurrency.
#   DURATION=30s CONCURRENCIES="1 8 32 64" ACCOUNTS=1000 eng/bench-producer.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
DURATION=${DURATION:-30s}
CONCURRENCIES=${CONCURRENCIES:-"1 8 32 64"}
ACCOUNTS=${ACCOUNTS:-1000}
PORT=${BENCH_PORT:-5199}
DB=eventreplay_bench
PG_PORT=${ER_PG_EVENTSTORE_PORT:-5433}   # the producer needs the event store alone
PG="Host=127.0.0.1;Port=$PG_PORT;Username=eventreplay"
API="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { [[ $EUID -eq 0 ]] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } \
  || { echo "bench: install wrk (apt-get install wrk)" >&2; exit 1; }
eng/services.sh start >/dev/null
dotnet build Endpoints/EventReplay.Producer -c Release -nologo -v:q -clp:ErrorsOnly >/dev/null

# The role's password: the local password file (eng/secrets.sh).
source eng/secrets.sh
PGPASSFILE=$(secret_pgpass)
export PGPASSFILE
psql -h 127.0.0.1 -p "$PG_PORT" -U eventreplay -d eventreplay -XqAt \
  -c "drop database if exists $DB with (force)" -c "create database $DB"

out="Endpoints/EventReplay.Producer/bin/Release/net10.0"
# Publishing off: this measures the write path alone, and its events must not reach a running system's queues.
# A writer's token of the local signing key, checked by the producer as any request is.
TOKEN=$(eng/eventreplay token --role writer --name bench)
export TOKEN
(cd "$out" && ConnectionStrings__eventstore="$PG;Database=$DB" Database__Schema=apply ASPNETCORE_URLS=$API Publishing__Enabled=false \
  Auth__SigningKeyFile="$ROOT/.local/secrets/token-signing.pub.pem" \
  Logging__LogLevel__Default=Warning exec dotnet EventReplay.Producer.dll) > "$ROOT/.local/logs/bench-producer.log" 2>&1 &
producer=$!
trap 'kill $producer 2>/dev/null || true; wait $producer 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -fs -o /dev/null "$API/health" && break; sleep 0.5; done

seq 1 "$ACCOUNTS" | xargs -P 8 -I{} curl -fs -o /dev/null -X POST "$API/api/accounts" \
  -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" -d '{"accountId":"bench-{}","owner":"Bench"}'

run() {  # run LABEL CONNECTIONS ACCOUNTS
  local result rps p50 p99 errors
  result=$(ACCOUNTS=$3 wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"$DURATION" --latency -s eng/bench/deposit.lua "$API")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$result")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$result")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$result")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$result")
  printf "%-22s %5s %10s %10s %10s %8s\n" "$1" "$2" "$rps" "$p50" "$p99" "${errors:-0}"
}

echo "bench: producer deposits, $DURATION per row, wrk (2 threads, 1 for one connection), Release build, PostgreSQL fsync on, $(nproc) cores shared by all"
printf "%-22s %5s %10s %10s %10s %8s\n" "case" "conns" "req/s" "p50" "p99" "non-2xx"
for c in $CONCURRENCIES; do run "spread over $ACCOUNTS" "$c" "$ACCOUNTS"; done
run "one account" 8 1
