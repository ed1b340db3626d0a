#!/usr/bin/env bash
# eng/run.sh: runs the whole system in the foreground. Installs and starts the local services, builds,
# starts the producer, both consumers, the replay service and two API gateways behind HAProxy, with the public API on http://127.0.0.1:8080,
# and on Ctrl-C or SIGTERM stops every process it started (the services too, unless they were already
# running before).
# Each process it starts runs under eng/supervise.sh: one that exits or is killed is started again (after 1 s,
# doubling up to 30 s while it keeps failing) with one line saying so, and everything else keeps running.
#
# eng/run.sh --ha runs the event store as a pg_auto_failover formation (a monitor and two nodes with synchronous
# replication, eng/pg-formation.sh) instead of one server; the services find its primary by themselves.
# eng/run.sh --dashboard also runs the Aspire dashboard on http://127.0.0.1:18888 (loopback only) as the services'
# OTLP receiver: their traces, metrics and logs; the console links each trace id it shows to the trace there.
set -euo pipefail

HA=${ER_EVENTSTORE_HA:-0}
DASHBOARD=0
for option in "$@"; do
  case "$option" in
    --ha) HA=1 ;;
    --dashboard) DASHBOARD=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: eng/run.sh [--ha] [--dashboard]" >&2; exit 2 ;;
  esac
done
export ER_EVENTSTORE_HA=$HA

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
PORT=${EVENTREPLAY_HTTP_PORT:-8080}
PRODUCER=http://127.0.0.1:5101
BALANCES=http://127.0.0.1:5111
STATISTICS=http://127.0.0.1:5121
REPLAY=http://127.0.0.1:5131
MONITOR=http://127.0.0.1:5141
GATEWAYS=(127.0.0.1:5201 127.0.0.1:5202)
DASHBOARD_UI=http://127.0.0.1:18888
DASHBOARD_OTLP=http://127.0.0.1:18890   # OTLP over HTTP (gRPC on 18889)
LOGS="$ROOT/.local/logs"
LB_DIR="$ROOT/.local/haproxy"

# A port already taken would only make its service fail and be restarted for ever: refuse to start instead.
addresses=("127.0.0.1:$PORT" "${PRODUCER#http://}" "${BALANCES#http://}" "${STATISTICS#http://}" "${REPLAY#http://}"
           "${MONITOR#http://}" "${GATEWAYS[@]}")
(( DASHBOARD == 1 )) && addresses+=("${DASHBOARD_UI#http://}" 127.0.0.1:18889 "${DASHBOARD_OTLP#http://}")
for address in "${addresses[@]}"; do
  if (exec 3<>"/dev/tcp/${address%:*}/${address##*:}") 2>/dev/null; then
    echo "run: $address is already in use (another eng/run.sh?); stop that first" >&2
    exit 1
  fi
done

services_were_up=false
if eng/services.sh status >/dev/null 2>&1; then services_were_up=true; fi
eng/services.sh start
mkdir -p "$LOGS"
# The services find their database roles' passwords in the local password file (eng/secrets.sh), never in a
# connection string.
source eng/secrets.sh
PGPASSFILE=$(secret_pgpass)
export PGPASSFILE
# Who may call what: tokens of the local signing key (eng/eventreplay token), unless an OpenID Connect authority is named.
[[ -n ${Auth__Authority:-} ]] || export Auth__SigningKeyFile="$ROOT/.local/secrets/token-signing.pub.pem"

declare -A names     # pid of each eng/supervise.sh we run -> the name of its process
declare -A commands  # name -> its command, quoted for eval
loggers=()           # the processes writing their output to the terminal and the logs
stop_all() {  # stop_all EXIT-STATUS
  # Finish the clean-up even if the terminal or a pipe reading our output is already gone.
  trap '' INT TERM PIPE
  trap - EXIT
  set +e
  echo "run: stopping" 2>/dev/null
  # Each supervisor stops its process (SIGTERM, SIGKILL after 30 s) and restarts nothing from then on.
  for pid in "${!names[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${!names[@]}"; do wait "$pid" 2>/dev/null; done
  for pid in "${loggers[@]}"; do wait "$pid" 2>/dev/null; done
  if [[ $services_were_up == false ]]; then
    eng/services.sh stop 2>&1 | tee -p -a "$LOGS/run.log"
  fi
  echo "run: stopped" 2>/dev/null
  exit "$1"
}
trap 'stop_all 0' INT TERM
trap 'stop_all $?' EXIT

# ER_NO_BUILD=1 runs what was built last (eng/openapi.sh builds the services alone, before the CLI has the new contract).
if [[ ${ER_NO_BUILD:-0} != 1 ]]; then
  echo "run: building"
  dotnet build EventReplay.sln -c Release -nologo -v:q -clp:ErrorsOnly
fi
# Schema changes in their own step, as the owner role; the services then run as their own roles, with data privileges
# only (eng/migrate.sh). Databases named in the environment are migrated by whoever runs them (README, "Pointing at
# existing services").
if [[ -z ${ConnectionStrings__eventstore:-}${ConnectionStrings__readmodels:-} ]]; then
  eng/migrate.sh --configuration Release 2>&1 | tee -p -a "$LOGS/run.log"
fi
# Each service connects to RabbitMQ as its own user (eng/broker-users.sh; eng/services.sh made them), unless the
# environment names a broker (see the README, "Pointing at existing services"); on the vhost ER_AMQP_VHOST, if set (its
# users made with broker_definitions, as eng/bench/lib.sh does), else /. Sets AMQP.
source eng/broker-users.sh
amqp() {  # amqp USER
  AMQP=()
  [[ -z ${ConnectionStrings__rabbitmq:-} ]] || return 0
  AMQP=("ConnectionStrings__rabbitmq_FILE=$(broker_url_file "$1" "127.0.0.1:${ER_AMQP_PORT:-5672}" "${ER_AMQP_VHOST:-}")")
}

# Each consumer connects to Redis as its own user, limited to its keys (eng/secrets.sh), on database ER_REDIS_DB (0 unless
# set), unless the environment names a Redis. Sets REDIS.
redis() {  # redis USER
  REDIS=()
  [[ -z ${ConnectionStrings__redis:-} ]] || return 0
  REDIS=("ConnectionStrings__redis_FILE=$(secret_redis_connection "$1" "127.0.0.1:${ER_REDIS_PORT:-6379}" "${ER_REDIS_DB:-0}")")
}

if (( DASHBOARD == 1 )); then
  # The dashboard is a self-contained executable in a NuGet package: fetched into the NuGet cache, run from there.
  dotnet restore eng/dashboard/dashboard.proj -nologo -v:q
  dashboard_version=$(sed -n 's:.*<AspireDashboardVersion>\(.*\)</AspireDashboardVersion>.*:\1:p' eng/dashboard/dashboard.proj)
  DASHBOARD_BIN="${NUGET_PACKAGES:-$HOME/.nuget/packages}/aspire.dashboard.sdk.linux-x64/$dashboard_version/tools/Aspire.Dashboard"
  [[ -x $DASHBOARD_BIN ]] || { echo "run: the Aspire dashboard is not at $DASHBOARD_BIN" >&2; exit 1; }
  # Every service exports its telemetry there (see README, "Telemetry").
  export OTEL_EXPORTER_OTLP_ENDPOINT=$DASHBOARD_OTLP OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
fi

supervise() {  # supervise NAME COMMAND...: output to the terminal prefixed [NAME] and to NAME.log
  local name=$1 out note
  shift
  commands[$name]=$(printf '%q ' "$@")
  exec {out}> >(sed -u "s/^/[$name] /" | tee -a "$LOGS/$name.log")
  loggers+=($!)
  # The supervisor's own lines (restarts) stand out on the terminal and are kept in the service's log too.
  exec {note}> >(tee -a "$LOGS/$name.log" >&2)
  loggers+=($!)
  SUPERVISE_TAG=run SUPERVISE_LOG_FD=$note eng/supervise.sh "$name" -- "$@" >&"$out" 2>&1 &
  names[$!]=$name
  exec {out}>&- {note}>&-
}

start_service() {  # start_service NAME URL FOLDER/PROJECT [VAR=VALUE...]
  local name=$1 url=$2 path=$3
  shift 3
  # Run from the build output so the service finds its appsettings.json.
  supervise "$name" env -C "$path/bin/Release/net10.0" "$@" "ASPNETCORE_URLS=$url" dotnet "$(basename "$path").dll"
}

running() {  # running PID: alive and not a zombie waiting to be reaped
  local line rest
  line=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${line##*) }
  [[ ${rest%% *} != Z ]]
}

# A supervisor ends only when killed from outside (pkill -f matches its command line too), and its process gets
# SIGTERM with it: start it again rather than leave the process unsupervised or stop everything.
revive_supervisors() {
  local pid name status
  for pid in "${!names[@]}"; do
    running "$pid" && continue
    status=0
    wait "$pid" 2>/dev/null || status=$?
    name=${names[$pid]}
    unset "names[$pid]"
    (( status > 128 )) && status="signal $(kill -l $((status - 128)))" || status="code $status"
    # The second of waiting keeps a supervisor that cannot start at all from being started in a tight loop.
    echo "run: the supervisor of $name ended ($status); starting it again in 1 s" >&2
    sleep 1
    eval "supervise $name ${commands[$name]}"
  done
}

not_ready=()
wait_ready() {  # wait_ready NAME=URL...: until each answers 2xx, or 120 s at most
  local pending=("$@") left entry deadline=$((SECONDS + 120))
  while :; do
    left=()
    for entry in "${pending[@]}"; do
      curl -fs -o /dev/null --max-time 2 "${entry#*=}" 2>/dev/null || left+=("$entry")
    done
    (( ${#left[@]} == 0 )) && return 0
    pending=("${left[@]}")
    revive_supervisors
    if (( SECONDS >= deadline )); then
      # Not a reason to stop the rest: a process that keeps failing keeps being restarted, with a line each time.
      for entry in "${pending[@]}"; do not_ready+=("${entry%%=*}"); done
      echo "run: not ready after 120 s: ${not_ready[*]}; each process is restarted whenever it exits (logs in $LOGS)" >&2
      return 0
    fi
    sleep 0.5
  done
}

# The event store's connection for a service with POOL connections at most, as its ROLE: its appsettings' one server, or
# every node of the formation, of which Npgsql picks the primary (and after a failover the new one). Sets EVENTSTORE.
eventstore() {  # eventstore POOL ROLE
  EVENTSTORE=()
  # An event store named in the environment is used as it is (see the README, "Pointing at existing services").
  (( HA == 1 )) && [[ -z ${ConnectionStrings__eventstore:-} ]] || return 0
  local ha_port=${ER_PG_HA_PORT:-5440}
  EVENTSTORE=("ConnectionStrings__eventstore=Host=127.0.0.1:$((ha_port + 1)),127.0.0.1:$((ha_port + 2));Target Session Attributes=primary;Host Recheck Seconds=1;Database=eventreplay;Username=$2;Timeout=3;Command Timeout=4;Cancellation Timeout=-1;Keepalive=10;Maximum Pool Size=$1")
}

if (( DASHBOARD == 1 )); then
  # On loopback only, without sign-in: telemetry holds request details, and nothing else on this machine should be
  # able to reach it.
  supervise dashboard env -C "$(dirname "$DASHBOARD_BIN")" "ASPNETCORE_URLS=$DASHBOARD_UI" \
    "ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL=http://127.0.0.1:18889" "ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL=$DASHBOARD_OTLP" \
    ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS=true "$DASHBOARD_BIN"
  TRACES=("Monitoring__TracesUrl=$DASHBOARD_UI")
else
  TRACES=()
fi
eventstore 50 er_producer; amqp er-producer; start_service producer "$PRODUCER" Endpoints/EventReplay.Producer "${EVENTSTORE[@]}" "${AMQP[@]}"
eventstore 10 er_balances; amqp er-balances; redis er-balances
start_service balances "$BALANCES" Endpoints/EventReplay.Consumers.Balances "${EVENTSTORE[@]}" "${AMQP[@]}" "${REDIS[@]}"
eventstore 10 er_statistics; amqp er-statistics; redis er-statistics
start_service statistics "$STATISTICS" Endpoints/EventReplay.Consumers.Statistics "${EVENTSTORE[@]}" "${AMQP[@]}" "${REDIS[@]}"
eventstore 30 er_replay; amqp er-replay; start_service replay "$REPLAY" Endpoints/EventReplay.Replay "${EVENTSTORE[@]}" "${AMQP[@]}"
eventstore 5 er_monitor; amqp er-monitor; start_service monitor "$MONITOR" Endpoints/EventReplay.Monitor "${EVENTSTORE[@]}" "${AMQP[@]}" "Monitoring__ReplayApi=$REPLAY/" "${TRACES[@]}"
amqp er-gateway
n=0
gateway_checks=()
for gateway in "${GATEWAYS[@]}"; do
  n=$((n + 1))
  start_service "gateway$n" "http://$gateway" Gateway/EventReplay.Gateway "${AMQP[@]}" \
    "ReverseProxy__Clusters__producer__Destinations__p1__Address=$PRODUCER/" \
    "ReverseProxy__Clusters__balances__Destinations__b1__Address=$BALANCES/" \
    "ReverseProxy__Clusters__statistics__Destinations__s1__Address=$STATISTICS/" \
    "ReverseProxy__Clusters__replay__Destinations__r1__Address=$REPLAY/" \
    "ReverseProxy__Clusters__monitor__Destinations__m1__Address=$MONITOR/"
  gateway_checks+=("gateway$n=http://$gateway/health")
done
wait_ready "producer=$PRODUCER/health" "balances=$BALANCES/health" "statistics=$STATISTICS/health" \
  "replay=$REPLAY/health" "monitor=$MONITOR/health" "${gateway_checks[@]}"
supervise lb eng/lb.sh run "$LB_DIR" "$PORT" "${GATEWAYS[@]}"
(( ${#not_ready[@]} > 0 )) || wait_ready "public API=http://127.0.0.1:$PORT/openapi/v1.json"

if (( ${#not_ready[@]} == 0 )); then
  echo "run: EventReplay is up"
else
  echo "run: EventReplay is running; not ready yet: ${not_ready[*]}"
fi
cat <<INFO
  public API     http://127.0.0.1:$PORT/api/...   (HAProxy → gateways ${GATEWAYS[*]} → services)
  health         http://127.0.0.1:$PORT/health        (a gateway's; producer: $PRODUCER/health)
  OpenAPI        http://127.0.0.1:$PORT/openapi/v1.json
  replays        http://127.0.0.1:$PORT/api/replays   (CLI: eng/eventreplay replay --help)
  monitoring     http://127.0.0.1:$PORT/api/monitoring/endpoints   (every process: alive, missing or stopped)
  failed msgs    http://127.0.0.1:$PORT/api/failed-messages/groups  (everything set aside; retry, edit, archive)
  console        http://127.0.0.1:$PORT/console/   (dashboard, endpoints, failed messages, queues, replays, events)
  queues         http://127.0.0.1:$PORT/api/monitoring/queues       (length, rates, consumers' lag; series: /api/monitoring/endpoints/balances/metrics)
  RabbitMQ UI    http://127.0.0.1:15672 (administrator eventreplay, password in .local/secrets/rabbitmq/eventreplay)
  traces         $( (( DASHBOARD == 1 )) && echo "$DASHBOARD_UI (Aspire dashboard: traces, metrics, logs of every service)" || echo "eng/run.sh --dashboard runs the Aspire dashboard as the services' OTLP receiver")
  event store    $( (( HA == 1 )) && echo "pg_auto_failover formation: eng/services.sh status eventstore; switchover: eng/services.sh switchover" || echo "one server on 127.0.0.1:${ER_PG_EVENTSTORE_PORT:-5433} (eng/run.sh --ha for a formation)")
  logs           $LOGS
  restarts       a process that exits or is killed is started again after 1 s (doubling up to 30 s)
run: press Ctrl-C to stop
INFO

# Stay in the foreground until we are told to stop; the supervisors restart whatever exits.
while :; do
  wait -n "${!names[@]}" 2>/dev/null || true
  revive_supervisors
done
