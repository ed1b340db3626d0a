#!/usr/bin/env bash
# eng/bench-rebuild.sh: a zero-downtime rebuild of one consumer's read model through the whole system (replay
# service, RabbitMQ, consumer, PostgreSQL, Redis), on its own database, vhost and Redis database. For each size in
# EVENTS: history is seeded straight into the event tables (ACCOUNTS accounts, fully interleaved), marked as already
# published (the live copy only sees what is written through the API), and the system rebuilds TARGET while
# LIVE_CONCURRENCY connections keep depositing through the load balancer; it prints events/s, CPU and peak resident
# memory per process, the live command-to-visible delay before and during the rebuild, and checks the result against
# a SQL fold of the events table.
#   EVENTS=100000,1000000 ACCOUNTS=10000 BATCH_SIZE=500 TARGET=balances LIVE_CONCURRENCY=4 eng/bench-rebuild.sh
# Stop a running eng/run.sh first: this one uses the same ports.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

IFS=, read -r -a sizes <<<"${EVENTS:-100000,1000000}"
for size in "${sizes[@]}"; do
  bench_prepare   # a fresh database per size
  # Seed with the system up but publishing off (the producer creates the event tables), then mark it published.
  Publishing__Enabled=false bench_start_system
  bench seed --eventstore "$BENCH_EVENTSTORE" --events "$size" --accounts "${ACCOUNTS:-10000}"
  bench_stop_system
  bench skip-publishing --eventstore "$BENCH_EVENTSTORE"
  bench_start_system
  bench rebuild --url "http://127.0.0.1:$PORT" --eventstore "$BENCH_EVENTSTORE" --readmodels "$BENCH_READMODELS" --batch-size "${BATCH_SIZE:-500}" \
    --target "${TARGET:-balances}" --live-concurrency "${LIVE_CONCURRENCY:-4}"
  bench_stop_system
done
