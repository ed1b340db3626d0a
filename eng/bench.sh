#!/usr/bin/env bash
# eng/bench.sh: the replay benchmark, every leg on the same data in one run (see the README, "Benchmarks").
#   eng/bench.sh [--events 1000000] [--accounts 10000] [--layout interleaved|runs|contiguous] [--repeat 3]
#                [--batch-size 500] [--legs replay,replay-no-redis,marten,apply-floor,floor,live,http-floor]
#                [--live-seconds 20] [--live-concurrency 8,32,128] [--live-rates 1000,2000,2500,5000] [--out bench-results]
# The live and http-floor legs (the write path against the plumbing's own limit, eng/bench.sh --legs live,http-floor)
# write OUT/live.md and OUT/live.json; with only them, nothing is seeded.
# Seeds its own database (eventreplay_bench), vhost and Redis database, so it never touches a running system's data;
# stop a running eng/run.sh first (the same ports). Prints a table and writes OUT/latest.json and OUT/latest.md (also
# OUT/<layout>.json|md). Exits non-zero if the legs did not compute the same balances.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

EVENTS=1000000 ACCOUNTS=10000 LAYOUT=interleaved REPEAT=3 BATCH=500 OUT=bench-results
LEGS=replay,replay-no-redis,marten,apply-floor,floor,live,http-floor LIVE_SECONDS=20 LIVE_CONCURRENCY=8,32,128
LIVE_RATES=1000,2000,2500,5000
while (( $# )); do
  case $1 in
    --events) EVENTS=$2 ;; --accounts) ACCOUNTS=$2 ;; --layout) LAYOUT=$2 ;; --repeat) REPEAT=$2 ;;
    --batch-size) BATCH=$2 ;; --legs) LEGS=$2 ;; --live-seconds) LIVE_SECONDS=$2 ;; --live-concurrency) LIVE_CONCURRENCY=$2 ;;
    --live-rates) LIVE_RATES=$2 ;;
    --out) OUT=$2 ;;
    *) echo "bench: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
  shift 2
done
case $LAYOUT in interleaved|runs|contiguous) ;; *) echo "bench: --layout is interleaved, runs or contiguous" >&2; exit 2 ;; esac

bench_prepare
MGMT_HOST=${MGMT#http://}
MGMT_HOST=${MGMT_HOST%/api}
mkdir -p "$OUT"
RUNS="$OUT/runs-$LAYOUT.jsonl"
: > "$RUNS"
has_leg() { [[ ",$LEGS," == *",$1,"* ]]; }
pg_super() {  # psql as the event store cluster's superuser over its unix socket (eng/services.sh made both)
  local sock="$ROOT/.local/postgres-eventstore/run"
  (( ${#sock} > 80 )) && sock=/tmp
  if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- psql -h "$sock" -p "$EVENTSTORE_PORT" -U postgres "$@")
  else psql -h "$sock" -p "$EVENTSTORE_PORT" -U "$(id -un)" "$@"; fi
}
leg() { bench leg --leg "$1" --out "$RUNS" --url "http://127.0.0.1:$PORT" --eventstore "$BENCH_EVENTSTORE" --readmodels "$BENCH_READMODELS" \
  --redis "$BENCH_REDIS" --batch-size "$BATCH" --seconds "$LIVE_SECONDS" --concurrency "$LIVE_CONCURRENCY" "${@:2}"; }
# Every leg repeats inside one harness process: like the system of the replay leg, which stays up between its runs,
# the harness's first run is cold and the others warm, and Marten's rebuild runs warm in its own process the same way.
repeat() { leg "$1" --repeat "$REPEAT"; }

has_replay_legs() { local name; for name in replay replay-no-redis marten apply-floor floor; do has_leg $name && return 0; done; return 1; }
rabbit_management="http://$USER_PASS@${MGMT_HOST}/$VHOST"

if has_replay_legs; then
  echo "bench: seeding $EVENTS events over $ACCOUNTS accounts, $LAYOUT"
  Publishing__Enabled=false bench_start_system   # the producer creates the event tables
  bench seed --eventstore "$BENCH_EVENTSTORE" --events "$EVENTS" --accounts "$ACCOUNTS" --layout "$LAYOUT" --record "$OUT/.seed-rate"
  bench_stop_system
  bench skip-publishing --eventstore "$BENCH_EVENTSTORE"

  if has_leg replay; then
    bench_start_system
    repeat replay
    bench_stop_system
  fi
  if has_leg replay-no-redis; then
    Balances__CacheWrites=false bench_start_system
    repeat replay-no-redis
    bench_stop_system
  fi
  # The in-process legs run with the services (PostgreSQL, Redis) up and the system's processes stopped.
  for name in marten apply-floor floor; do
    if has_leg $name; then repeat $name; fi
  done
fi

# Last: live commands add events to the log, which the legs above must not see.
if has_leg live || has_leg http-floor; then
  # Statements per command need pg_stat_statements in the bench database (eng/services.sh preloads it) and the
  # harness's role allowed to read every role's statistics: the cluster's superuser grants both.
  pg_super -d "$DB" -XqAt -c "create extension if not exists pg_stat_statements" -c "grant pg_read_all_stats to eventreplay"
  bench_start_system
  matrix_legs=$(tr ',' '\n' <<<"$LEGS" | grep -xE 'live|http-floor' | paste -sd, -)
  bench live-matrix --url "http://127.0.0.1:$PORT" --eventstore "$BENCH_EVENTSTORE" --rabbit-management "$rabbit_management" \
    --legs "$matrix_legs" --seconds "$LIVE_SECONDS" --concurrency "$LIVE_CONCURRENCY" --rates "$LIVE_RATES" --out "$OUT"
  bench_stop_system
fi

if has_replay_legs; then
  bench report --runs "$RUNS" --layout "$LAYOUT" --events "$EVENTS" --accounts "$ACCOUNTS" --batch-size "$BATCH" \
    --seed-rate "$(cat "$OUT/.seed-rate")" --eventstore "$BENCH_EVENTSTORE" --rabbit-management "$rabbit_management" \
    --out "$OUT"
fi
