#!/usr/bin/env bash
# eng/run.sh: runs the whole system in the foreground. Installs and starts the local services, builds,
# starts the producer, both consumers, the replay service and two API gateways behind HAProxy, with the public API on http://127.0.0.1:8080,
# and on Ctrl-C or SIGTERM stops every process it started (the services too, unless they were already
# running before).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
PORT=${EVENTREPLAY_HTTP_PORT:-8080}
PRODUCER=http://127.0.0.1:5101
BALANCES=http://127.0.0.1:5111
STATISTICS=http://127.0.0.1:5121
REPLAY=http://127.0.0.1:5131
GATEWAYS=(127.0.0.1:5201 127.0.0.1:5202)
LOGS="$ROOT/.local/logs"
LB_DIR="$ROOT/.local/haproxy"

services_were_up=false
if eng/services.sh status >/dev/null 2>&1; then services_were_up=true; fi
eng/services.sh start

echo "run: building"
dotnet build EventReplay.sln -c Release -nologo -v:q -clp:ErrorsOnly

pids=()
stop_all() {
  # Finish the clean-up even if the terminal or a pipe reading our output is already gone.
  trap '' INT TERM PIPE
  trap - EXIT
  set +e
  echo "run: stopping" 2>/dev/null
  eng/lb.sh stop "$LB_DIR"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [[ $services_were_up == false ]]; then
    eng/services.sh stop 2>&1 | tee -p -a "$LOGS/run.log"
  fi
  echo "run: stopped" 2>/dev/null
  exit 0
}
trap stop_all INT TERM EXIT

start_service() {  # start_service NAME URL FOLDER/PROJECT [VAR=VALUE...]
  local name=$1 url=$2 path=$3
  shift 3
  mkdir -p "$LOGS"
  # Run from the build output so the service finds its appsettings.json.
  (cd "$path/bin/Release/net10.0" && { (( $# == 0 )) || export "$@"; } && ASPNETCORE_URLS=$url exec dotnet "$(basename "$path").dll") \
    > >(sed -u "s/^/[$name] /" | tee -a "$LOGS/$name.log") 2>&1 &
  pids+=($!)
}

wait_ready() {  # wait_ready URL
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "$1"; then return 0; fi
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "run: a service exited; see $LOGS" >&2; exit 1; }; done
    sleep 0.5
  done
  echo "run: $1 did not become ready; see $LOGS" >&2
  exit 1
}

start_service producer "$PRODUCER" Endpoints/EventReplay.Producer
start_service balances "$BALANCES" Endpoints/EventReplay.Consumers.Balances
start_service statistics "$STATISTICS" Endpoints/EventReplay.Consumers.Statistics
start_service replay "$REPLAY" Endpoints/EventReplay.Replay
n=0
for gateway in "${GATEWAYS[@]}"; do
  n=$((n + 1))
  start_service "gateway$n" "http://$gateway" Gateway/EventReplay.Gateway \
    "ReverseProxy__Clusters__producer__Destinations__p1__Address=$PRODUCER/" \
    "ReverseProxy__Clusters__balances__Destinations__b1__Address=$BALANCES/" \
    "ReverseProxy__Clusters__statistics__Destinations__s1__Address=$STATISTICS/" \
    "ReverseProxy__Clusters__replay__Destinations__r1__Address=$REPLAY/"
done
wait_ready "$PRODUCER/health"
wait_ready "$BALANCES/health"
wait_ready "$STATISTICS/health"
wait_ready "$REPLAY/health"
for gateway in "${GATEWAYS[@]}"; do wait_ready "http://$gateway/health"; done
eng/lb.sh start "$LB_DIR" "$PORT" "${GATEWAYS[@]}"
wait_ready "http://127.0.0.1:$PORT/api/events?limit=1"

cat <<INFO
run: EventReplay is up
  public API     http://127.0.0.1:$PORT/api/...   (HAProxy → gateways ${GATEWAYS[*]} → services)
  health         http://127.0.0.1:$PORT/health        (a gateway's; producer: $PRODUCER/health)
  OpenAPI        http://127.0.0.1:$PORT/openapi/v1.json
  replays        http://127.0.0.1:$PORT/api/replays   (CLI: eng/eventreplay replay --help)
  RabbitMQ UI    http://127.0.0.1:15672 (eventreplay / eventreplay)
  logs           $LOGS
run: press Ctrl-C to stop
INFO

# Stay in the foreground until a service exits or we are told to stop.
wait -n "${pids[@]}"
echo "run: a service exited; see $LOGS" >&2
exit 1
