#!/usr/bin/env bash
# eng/bench-rebuild.sh: a zero-downtime rebuild of one consumer's read model through the whole system (replay
# service, RabbitMQ, consumer, PostgreSQL, Redis), on its own database, vhost and Redis database. History is seeded
# straight into the event tables (interleaved accounts), publishing is off (the live copy stays empty), and the
# rebuild is timed at each size in EVENTS, with CPU and peak resident memory per process, and checked against a SQL
# fold of the events table.
#   EVENTS=100000,1000000 ACCOUNTS=10000 BATCH_SIZE=500 TARGET=balances eng/bench-rebuild.sh
# Stop a running eng/run.sh first: this one uses the same ports.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

bench_prepare
export Publishing__Enabled=false
bench_start_system
bench rebuild --url "http://127.0.0.1:$PORT" --postgres "$BENCH_POSTGRES" --events "${EVENTS:-100000,1000000}" \
  --accounts "${ACCOUNTS:-10000}" --batch-size "${BATCH_SIZE:-500}" --target "${TARGET:-balances}"
