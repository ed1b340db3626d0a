#!/usr/bin/env bash
# eng/soak.sh: the whole system under steady mixed traffic for a while (see the README, "Soak").
#   eng/soak.sh [--minutes 10] [--rate 100] [--workers 8] [--readers 2] [--reads 15] [--rebuild-every 120]
#               [--kill-every 180] [--sample-every 5] [--out soak-results]
# Commands (--rate per second, --workers) and reads through the load balancer, a zero-downtime rebuild every
# --rebuild-every seconds (balances and statistics in turn) and a consumer killed with SIGKILL every --kill-every
# seconds (the same; eng/supervise.sh starts it again), the memory and CPU of every process sampled; then the load
# stops, the pipeline drains and the integration tests' invariant checks run. Over its own database
# (eventreplay_soak), vhost and Redis database (6), on the system's ports: stop a running eng/run.sh first. Prints
# the report and writes OUT/latest.json, OUT/latest.md and OUT/samples.csv. Exits non-zero if an invariant fails, a
# rebuild does not complete, a killed consumer does not come back or a command gets no definitive answer.
set -euo pipefail
RUN_NAME=soak RUN_REDIS_DB=6
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

MINUTES=10 OUT=soak-results
options=()
while (( $# )); do
  case $1 in
    --minutes) MINUTES=$2 ;;
    --out) OUT=$2 ;;
    --rate|--workers|--readers|--reads|--rebuild-every|--kill-every|--sample-every) options+=("$1" "$2") ;;
    *) echo "soak: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
  shift 2
done

began=$SECONDS
bench_prepare
# Its own Redis database, emptied like the database and the vhost: a cache left by an earlier run would hold versions
# and totals the fresh database has not reached yet, and a newer version in the cache is never overwritten.
REDISCLI_AUTH=$(secret redis/eventreplay) redis-cli --user eventreplay -h 127.0.0.1 -p "${ER_REDIS_PORT:-6379}" -n "$REDIS_DB" flushdb >/dev/null
prepared=$SECONDS
bench_start_system
echo "soak: system up (build and preparation $((prepared - began)) s, start $((SECONDS - prepared)) s); running $MINUTES min"
status=0
bench soak --url "http://127.0.0.1:$PORT" --eventstore "$BENCH_EVENTSTORE" --readmodels "$BENCH_READMODELS" --database "$DB" \
  --redis "$BENCH_REDIS" --eventstore-port "$EVENTSTORE_PORT" --readmodels-port "$READMODELS_PORT" --amqp-port "${ER_AMQP_PORT:-5672}" --redis-port "${ER_REDIS_PORT:-6379}" \
  --minutes "$MINUTES" --out "$OUT" "${options[@]}" || status=$?
stopping=$SECONDS
bench_stop_system
echo "soak: stopped in $((SECONDS - stopping)) s; $((SECONDS - began)) s end to end (build, start, run, drain, checks, stop)"
exit $status
