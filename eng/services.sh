#!/usr/bin/env bash
# eng/services.sh start|stop|status [eventstore|readmodels|rabbitmq|redis] | env | switchover
#
# Local backing services for eventreplay development and tests, run as plain
# background processes (no systemd, no Docker), loopback only, with data and
# logs under the repo's git-ignored .local/ folder:
#
#   PostgreSQL 15, two clusters, each with the owner role eventreplay, each service's login role (er_producer,
#                  er_balances, er_statistics, er_replay, er_monitor: eng/migrate.sh grants them what they use), their
#                  passwords in .local/secrets/postgres/ (and for psql and the services in .local/secrets/pgpass), and
#                  databases eventreplay, eventreplay_tests:
#     readmodels   127.0.0.1:${ER_PG_PORT:-5432}      read models, replay sagas (.local/postgres)
#     eventstore   127.0.0.1:${ER_PG_EVENTSTORE_PORT:-5433}  the event store alone (.local/postgres-eventstore), its WAL
#                  archived with pgBackRest (stanza eventstore, repository .local/backups, configuration
#                  .local/pgbackrest/pgbackrest.conf) for eng/backup.sh and eng/restore.sh
#     with ER_EVENTSTORE_HA=1 the event store is a pg_auto_failover formation instead (eng/pg-formation.sh,
#     .local/eventstore-ha): monitor 127.0.0.1:${ER_PG_HA_PORT:-5440}, nodes on the next two ports; its primary
#                  archives its WAL into the same repository, stanza eventstore-ha (configuration
#                  .local/eventstore-ha/pgbackrest/pgbackrest.conf: eng/backup.sh and eng/restore.sh take it when
#                  ER_EVENTSTORE_HA=1)
#   RabbitMQ 3.10  127.0.0.1:${ER_AMQP_PORT:-5672}    administrator eventreplay (password in .local/secrets/rabbitmq/),
#                  mgmt 127.0.0.1:${ER_RABBIT_MGMT_PORT:-15672}, vhosts / and eventreplay_tests
#   Redis 7        127.0.0.1:${ER_REDIS_PORT:-6379}    administrator eventreplay, a user per consumer limited to its keys
#                  (eng/secrets.sh; passwords in .local/secrets/redis/, ACL file .local/redis/users.acl)
#
# start  installs missing packages (apt, root only; with HAProxy for eng/lb.sh and docker-compose, which a
#        test uses to validate docker-compose.yml), starts what is not running,
#        reuses a compatible server already listening on a port, is idempotent.
# stop   stops only what this script started (.local/ instances).
# status one line per service; exits non-zero if any service is down.
# env    prints export lines with the administrator's connection details: ER_EVENTSTORE_URL, ER_READMODELS_URL
#        (postgresql:// URLs of the owner role), ER_AMQP_URL, ER_RABBIT_MGMT_URL, ER_RABBIT_MGMT_USER,
#        ER_RABBIT_MGMT_PASSWORD, ER_REDIS_URL (eval "$(eng/services.sh env)").
# switchover  with the event store's formation running: its secondary becomes the primary (planned maintenance).
# A name after the command limits it to that service: `stop eventstore` stops the event store's cluster alone
# (everything else keeps running), `start eventstore` starts it again.
set -euo pipefail

# ---------------------------------------------------------------- settings ---
export PATH="$PATH:/usr/sbin:/sbin"
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd -P)
LOCAL="$REPO_ROOT/.local"
LOGS="$LOCAL/logs"
source "$SCRIPT_DIR/backup/lib.sh"
source "$SCRIPT_DIR/secrets.sh"
source "$SCRIPT_DIR/broker-users.sh"
# The event store's backups: its WAL is archived into this pgBackRest repository (see eng/backup.sh, eng/restore.sh).
BACKUP_CONFIG="$LOCAL/pgbackrest/pgbackrest.conf"
BACKUP_STANZA=eventstore
BACKUP_REPO="$LOCAL/backups"

READMODELS_PORT=${ER_PG_PORT:-5432}
EVENTSTORE_PORT=${ER_PG_EVENTSTORE_PORT:-5433}
EVENTSTORE_HA=${ER_EVENTSTORE_HA:-0}
HA_PORT=${ER_PG_HA_PORT:-5440}
HA_DIR="$LOCAL/eventstore-ha"
AMQP_PORT=${ER_AMQP_PORT:-5672}
MGMT_PORT=${ER_RABBIT_MGMT_PORT:-15672}
REDIS_PORT=${ER_REDIS_PORT:-6379}

# The administrator (an owner role in PostgreSQL, the broker's administrator): its passwords are made once into
# .local/secrets/ (eng/secrets.sh), as are the services' own.
ER_USER=eventreplay
PG_PASS=$(secret "postgres/$ER_USER")
RMQ_PASS=$(secret "rabbitmq/$ER_USER")
# psql and the services read the local roles' passwords from here (a connection string names the role only).
PGPASSFILE=$(secret_pgpass)
export PGPASSFILE
ER_DBS=(eventreplay eventreplay_tests)
ER_TEST_VHOST=eventreplay_tests

PG_BIN=/usr/lib/postgresql/15/bin
RMQ_BIN=/usr/lib/rabbitmq/bin
RMQ_DIR="$LOCAL/rabbitmq"
RMQ_NODE=eventreplay@localhost
RMQ_HOME="$RMQ_DIR/home"
RMQ_PID_FILE="$RMQ_DIR/$RMQ_NODE.pid"
REDIS_DIR="$LOCAL/redis"
REDIS_PID_FILE="$REDIS_DIR/redis.pid"

APT_PACKAGES="postgresql rabbitmq-server redis-server haproxy pgbackrest postgresql-15-auto-failover pg-auto-failover-cli"
# Installed without its recommended docker.io: the tests only need it to validate docker-compose.yml, and the
# engine's package would start a Docker daemon that rewrites the firewall.
APT_PACKAGES_NO_RECOMMENDS="docker-compose"

if [[ $EUID -eq 0 ]]; then PG_OS_USER=postgres; else PG_OS_USER=$(id -un); fi
PG_SUPER=$PG_OS_USER   # superuser created by initdb; peer auth over the unix socket

# The PostgreSQL cluster the pg_* functions below work on: pg_use readmodels|eventstore sets its name, port,
# folders and log. The read models' cluster keeps the folder and log names of the time it was the only one.
PG_NAME="" PG_PORT="" PG_DIR="" PGDATA="" PG_SOCK="" PG_LOG=""
pg_use() {
  PG_NAME=$1
  case $1 in
    readmodels) PG_PORT=$READMODELS_PORT PG_DIR="$LOCAL/postgres" PG_LOG="$LOGS/postgres.log" ;;
    eventstore) PG_PORT=$EVENTSTORE_PORT PG_DIR="$LOCAL/postgres-eventstore" PG_LOG="$LOGS/postgres-eventstore.log" ;;
    *) die "unknown PostgreSQL cluster $1" ;;
  esac
  PGDATA="$PG_DIR/data"
  # Unix socket dir: inside .local unless the path would be too long for sun_path (107 bytes incl.
  # "/.s.PGSQL.NNNNN.lock"), then /tmp (the port keeps the two clusters' sockets apart).
  PG_SOCK="$PG_DIR/run"
  if (( ${#PG_SOCK} > 80 )); then PG_SOCK=/tmp; fi
}

# Environment for every RabbitMQ server/CLI invocation (same HOME = same cookie).
RMQ_ENV=(
  HOME="$RMQ_HOME"
  RABBITMQ_NODENAME="$RMQ_NODE"
  RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
  RABBITMQ_LOG_BASE="$LOGS/rabbitmq"
  RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
  RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
  RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
  RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
  RABBITMQ_PID_FILE="$RMQ_PID_FILE"
  RABBITMQ_DIST_PORT="$((AMQP_PORT + 20000))"
  ERL_EPMD_ADDRESS=127.0.0.1
  ERL_CRASH_DUMP="$LOGS/rabbitmq/erl_crash.dump"
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
)

# ----------------------------------------------------------------- helpers ---
say() { echo "services: $*"; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Alive and not a zombie (this machine's init does not reap daemons).
pid_alive() {
  local pid=${1:-} line rest
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  line=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  rest=${line##*) }
  [[ ${rest%% *} != [ZX] ]]
}

# pidfile_alive FILE COMM -> prints the pid; true if it is alive and its
# command name is COMM (guards against a stale pid file and a reused pid).
pidfile_alive() {
  local pid comm
  [[ -f $1 ]] || return 1
  pid=$(head -c 32 "$1" 2>/dev/null | head -n1 | tr -dc 0-9)
  pid_alive "$pid" || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $comm == "$2" ]] || return 1
  echo "$pid"
}

port_open() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Run as the PostgreSQL OS user, from a cwd it can read.
as_pg() {
  if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else (cd / && "$@"); fi
}

rmqctl() { env "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@"; }

have_curl() { command -v curl >/dev/null 2>&1; }

rmq_api() {  # rmq_api METHOD PATH [JSON]  (quiet; status only)
  local args=(-fsS -o /dev/null --max-time 10 -u "$ER_USER:$RMQ_PASS" -X "$1"
              "http://127.0.0.1:$MGMT_PORT/api/$2")
  [[ $# -ge 3 ]] && args+=(-H 'content-type: application/json' -d "$3")
  curl "${args[@]}" 2>/dev/null
}

pg_login_ok() {  # pg_login_ok DB
  PGPASSWORD=$PG_PASS PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" \
    -U "$ER_USER" -d "$1" -XAtqc 'select 1' >/dev/null 2>&1
}

check_port_var() {
  if [[ ! $2 =~ ^[0-9]+$ ]] || (( $2 < 1 || $2 > 65535 )); then die "$1=$2 is not a valid port"; fi
}

# ---------------------------------------------------------------- install ---
ensure_installed() {
  local missing=()
  [[ -x $PG_BIN/postgres ]] || missing+=(postgresql-15)
  [[ -x $RMQ_BIN/rabbitmq-server ]] || missing+=(rabbitmq-server)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
  [[ -x $BACKUP_PGBACKREST ]] || missing+=(pgbackrest)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v pg_autoctl >/dev/null 2>&1 || missing+=(pg-auto-failover-cli)
  (( ${#missing[@]} == 0 )) && return 0
  local install="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $APT_PACKAGES"
  install+=" && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $APT_PACKAGES_NO_RECOMMENDS"
  if [[ $EUID -ne 0 ]]; then
    if [[ ${missing[*]} == docker-compose ]]; then
      # Only a test needs it (it fails without it); running the system does not.
      say "missing: docker-compose (the test of docker-compose.yml fails without it); install it with:"
      echo "sudo sh -c '$install'"
      return 0
    fi
    say "missing: ${missing[*]}; install them with:"
    echo "sudo sh -c '$install'"
    exit 1
  fi
  say "installing (missing: ${missing[*]}) ..."
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $APT_PACKAGES
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $APT_PACKAGES_NO_RECOMMENDS
  if [[ ! -x $PG_BIN/postgres || ! -x $RMQ_BIN/rabbitmq-server ]] \
     || ! command -v redis-server >/dev/null || ! command -v haproxy >/dev/null || [[ ! -x $BACKUP_PGBACKREST ]] \
     || ! command -v docker-compose >/dev/null || ! command -v pg_autoctl >/dev/null; then
    die "packages still missing after apt-get install"
  fi
}

# --------------------------------------------------------------- rabbitmq ---
RMQ_STATE=""        # launched | ours | external
RMQ_LAUNCH_PID=""

rmq_write_config() {
  mkdir -p "$RMQ_DIR/mnesia" "$RMQ_HOME" "$LOGS/rabbitmq"
  cat >"$RMQ_DIR/rabbitmq.conf" <<EOF
# generated by eng/services.sh -- rewritten on every start
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
loopback_users = none
# only applied when the node boots with an empty database
default_user = $ER_USER
default_pass = $RMQ_PASS
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
EOF
  chmod 600 "$RMQ_DIR/rabbitmq.conf"
  echo '[rabbitmq_management].' >"$RMQ_DIR/enabled_plugins"
  echo '# intentionally empty: isolates this node from /etc/rabbitmq/rabbitmq-env.conf' \
    >"$RMQ_DIR/rabbitmq-env.conf"
  if [[ ! -s $RMQ_HOME/.erlang.cookie ]]; then
    # Pre-create the cookie so server and CLI never race to create different ones.
    (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F >"$RMQ_HOME/.erlang.cookie")
    chmod 400 "$RMQ_HOME/.erlang.cookie"
  fi
}

# epmd keeps whatever bind address the first Erlang program that spawned it
# had (any earlier rabbitmqctl/erl call without ERL_EPMD_ADDRESS => 0.0.0.0 and
# [::]). Start it ourselves loopback-only; restart an idle one that is not.
rmq_epmd_loopback() {
  local names
  command -v epmd >/dev/null 2>&1 || return 0
  if names=$(epmd -names 2>/dev/null); then
    if command -v ss >/dev/null 2>&1 \
       && ! ss -ltnH 'sport = :4369' 2>/dev/null | awk '{print $4}' | grep -qvE '^(127\.0\.0\.1|\[::1\]):'; then
      return 0   # already loopback-only
    fi
    if grep -q '^name ' <<<"$names"; then
      say "rabbitmq: warning: epmd (4369) is shared with other Erlang nodes and may listen beyond loopback"
      return 0
    fi
    epmd -kill >/dev/null 2>&1 || true
    sleep 0.2
  fi
  ERL_EPMD_ADDRESS=127.0.0.1 epmd -daemon </dev/null >/dev/null 2>&1 || true
}

rmq_reuse_external() {
  have_curl || die "rabbitmq: port $AMQP_PORT/$MGMT_PORT is in use by a server this script did not start, and curl is missing to verify it; stop it or set ER_AMQP_PORT/ER_RABBIT_MGMT_PORT"
  if rmq_api GET overview && port_open "$AMQP_PORT"; then
    rmq_provision_api >/dev/null 2>&1 || true   # best effort: user may not be administrator
    rmq_api GET "vhosts/$ER_TEST_VHOST" \
      || die "rabbitmq: reusable server on :$AMQP_PORT lacks vhost $ER_TEST_VHOST for $ER_USER"
    say "rabbitmq: reusing existing server on 127.0.0.1:$AMQP_PORT (mgmt :$MGMT_PORT accepts $ER_USER; not started by this script)"
    return 0
  fi
  die "rabbitmq: port $AMQP_PORT or $MGMT_PORT is in use by something that is not a usable RabbitMQ (management API at 127.0.0.1:$MGMT_PORT rejects $ER_USER with its password in ${SECRETS_DIR#"$REPO_ROOT"/}/rabbitmq/$ER_USER). Stop it (a Debian-started broker: rabbitmqctl stop) or set ER_AMQP_PORT/ER_RABBIT_MGMT_PORT."
}

# Decide ours / external / fresh before launching anything, so a port clash
# fails the start before any daemon has been spawned.
rmq_preflight() {
  local pid
  if pid=$(pidfile_alive "$RMQ_PID_FILE" beam.smp); then
    RMQ_STATE=ours
  elif port_open "$AMQP_PORT" || port_open "$MGMT_PORT"; then
    rmq_reuse_external; RMQ_STATE=external
  elif port_open "$((AMQP_PORT + 20000))"; then
    die "rabbitmq: distribution port $((AMQP_PORT + 20000)) (ER_AMQP_PORT+20000) is already in use. Stop that or set ER_AMQP_PORT."
  fi
}

rmq_launch() {
  case $RMQ_STATE in
    ours) say "rabbitmq: already running ($RMQ_NODE, pid $(pidfile_alive "$RMQ_PID_FILE" beam.smp))"; return 0 ;;
    external) return 0 ;;
  esac
  rmq_write_config
  rm -f "$RMQ_PID_FILE"
  rmq_epmd_loopback
  (cd "$RMQ_DIR" && exec env "${RMQ_ENV[@]}" nohup setsid "$RMQ_BIN/rabbitmq-server" \
     </dev/null >>"$LOGS/rabbitmq/stdout.log" 2>&1) &
  RMQ_LAUNCH_PID=$!
  RMQ_STATE=launched
  say "rabbitmq: booting $RMQ_NODE in background (amqp :$AMQP_PORT, mgmt :$MGMT_PORT)"
}

rmq_provision_api() {
  local perms='{"configure":".*","write":".*","read":".*"}'
  rmq_api PUT "vhosts/$ER_TEST_VHOST" '{}' \
    && rmq_api PUT "permissions/%2F/$ER_USER" "$perms" \
    && rmq_api PUT "permissions/$ER_TEST_VHOST/$ER_USER" "$perms" \
    && rmq_api POST definitions "$(broker_definitions / --tests "$ER_TEST_VHOST")"
}

rmq_provision_ctl() {
  rmqctl -q authenticate_user "$ER_USER" "$RMQ_PASS" >/dev/null 2>&1 \
    || rmqctl -q add_user "$ER_USER" "$RMQ_PASS" >/dev/null 2>&1 \
    || rmqctl -q change_password "$ER_USER" "$RMQ_PASS" >/dev/null
  rmqctl -q set_user_tags "$ER_USER" administrator >/dev/null
  local vhosts
  vhosts=$(rmqctl -s list_vhosts name 2>/dev/null || true)
  grep -qx "$ER_TEST_VHOST" <<<"$vhosts" || rmqctl -q add_vhost "$ER_TEST_VHOST" >/dev/null
  rmqctl -q set_permissions -p / "$ER_USER" '.*' '.*' '.*' >/dev/null
  rmqctl -q set_permissions -p "$ER_TEST_VHOST" "$ER_USER" '.*' '.*' '.*' >/dev/null
  # The services' own users (eng/broker-users.sh), in one call.
  local definitions
  definitions=$(mktemp)
  broker_definitions / --tests "$ER_TEST_VHOST" >"$definitions"
  chmod 644 "$definitions"
  rmqctl -q import_definitions "$definitions" >/dev/null
  rm -f "$definitions"
}

rmq_finish() {
  case $RMQ_STATE in
    external) return 0 ;;
    launched)
      local deadline=$((SECONDS + 120))
      until rmqctl -q await_startup >/dev/null 2>&1; do
        pid_alive "$RMQ_LAUNCH_PID" || {
          tail -n 20 "$LOGS/rabbitmq/stdout.log" >&2 || true
          die "rabbitmq: server exited during boot; see $LOGS/rabbitmq/"
        }
        (( SECONDS < deadline )) || die "rabbitmq: not started after 120s; see $LOGS/rabbitmq/"
        sleep 0.5
      done
      ;;
    ours)
      { have_curl && rmq_api GET overview; } || rmqctl -q await_startup >/dev/null 2>&1 \
        || die "rabbitmq: our node $RMQ_NODE is running but not answering; try '$0 stop' then start"
      ;;
  esac
  # Provision: fast path through the management API, rabbitmqctl as fallback
  # (no curl, or our user was changed/removed so the API rejects it).
  local code="" me=""
  if have_curl; then
    for _ in $(seq 1 40); do   # the HTTP listener can lag await_startup slightly
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -u "$ER_USER:$RMQ_PASS" \
               "http://127.0.0.1:$MGMT_PORT/api/whoami" 2>/dev/null || true)
      [[ $code == 000 || -z $code ]] || break
      sleep 0.5
    done
    [[ $code == 200 ]] && me=$(curl -fsS --max-time 5 -u "$ER_USER:$RMQ_PASS" \
               "http://127.0.0.1:$MGMT_PORT/api/whoami" 2>/dev/null || true)
  fi
  if [[ $me == *administrator* ]] && rmq_provision_api; then
    :
  else
    rmq_provision_ctl || die "rabbitmq: provisioning $ER_USER via rabbitmqctl failed"
  fi
  if have_curl; then
    for _ in $(seq 1 20); do rmq_api GET overview && break; sleep 0.5; done
    rmq_api GET overview || die "rabbitmq: management API on 127.0.0.1:$MGMT_PORT not answering"
  fi
  port_open "$AMQP_PORT" || die "rabbitmq: AMQP port $AMQP_PORT not listening"
  say "rabbitmq: up on 127.0.0.1:$AMQP_PORT (mgmt http://127.0.0.1:$MGMT_PORT, user $ER_USER, vhosts / and $ER_TEST_VHOST; service users er-* with passwords in ${BROKER_SECRETS#"$REPO_ROOT"/})"
}

rmq_stop() {
  local pid
  if ! pid=$(pidfile_alive "$RMQ_PID_FILE" beam.smp); then
    if port_open "$AMQP_PORT"; then say "rabbitmq: :$AMQP_PORT is served by a server this script did not start; left alone"
    else say "rabbitmq: not running"; fi
    rm -f "$RMQ_PID_FILE"
    return 0
  fi
  rmqctl -q stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do pid_alive "$pid" || break; sleep 0.5; done
  if pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
  rm -f "$RMQ_PID_FILE"
  # Kill epmd only if no other Erlang node is still registered with it.
  if command -v epmd >/dev/null && ! epmd -names 2>/dev/null | grep -q '^name '; then
    epmd -kill >/dev/null 2>&1 || true
  fi
  say "rabbitmq: stopped ($RMQ_NODE)"
}

# --------------------------------------------------------------- postgres ---
pg_port_var() { if [[ $PG_NAME == eventstore ]]; then echo ER_PG_EVENTSTORE_PORT; else echo ER_PG_PORT; fi; }

pg_ensure_traversable() {
  # The postgres user must be able to reach .local/postgres (e.g. repo under /root).
  [[ $EUID -eq 0 ]] || return 0
  as_pg test -x "$PG_DIR" && as_pg test -w "$PG_DIR" && return 0
  local d="" part
  local IFS=/
  for part in ${PG_DIR#/}; do
    d="$d/$part"
    if ! as_pg test -x "$d"; then
      chmod o+x "$d"
      say "postgres $PG_NAME: chmod o+x $d (so the postgres user can reach $PG_DIR)"
    fi
  done
  as_pg test -w "$PG_DIR" || die "postgres $PG_NAME: user postgres cannot write $PG_DIR"
}

pg_provision() {  # pg_provision SOCKET_DIR -- ensure the roles (the owner, each service's) + databases (as superuser)
  as_pg "$PG_BIN/psql" -h "$1" -p "$PG_PORT" -U "$PG_SUPER" -d postgres \
    -XqAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ER_USER') THEN
    CREATE ROLE $ER_USER LOGIN CREATEDB PASSWORD '$PG_PASS';
  ELSE
    ALTER ROLE $ER_USER LOGIN CREATEDB PASSWORD '$PG_PASS';
  END IF;
END\$\$;
SELECT format('CREATE DATABASE %I OWNER $ER_USER', d)
  FROM unnest(ARRAY['${ER_DBS[0]}', '${ER_DBS[1]}']) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d)\gexec
$(secret_pg_roles_sql)
SQL
}

pg_verify() {
  local db
  for db in "${ER_DBS[@]}"; do
    pg_login_ok "$db" || return 1
  done
}

pg_reuse_external() {
  if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 3; then
    die "postgres $PG_NAME: port $PG_PORT is in use by something that is not PostgreSQL. Stop it or set $(pg_port_var)."
  fi
  if pg_login_ok "${ER_DBS[0]}"; then
    # CREATEDB lets our role add the test database itself if it is missing.
    pg_login_ok "${ER_DBS[1]}" || PGPASSWORD=$PG_PASS "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" \
      -U "$ER_USER" -d "${ER_DBS[0]}" -XAtqc "CREATE DATABASE ${ER_DBS[1]}" >/dev/null 2>&1 || true
  elif [[ $EUID -eq 0 && -S /var/run/postgresql/.s.PGSQL.$PG_PORT ]]; then
    # e.g. the Debian cluster started by the package's postinst: make it usable.
    PG_SUPER=postgres pg_provision /var/run/postgresql >/dev/null 2>&1 || true
  fi
  pg_verify || die "postgres $PG_NAME: port $PG_PORT is served by a PostgreSQL this script did not start, and $ER_USER (password in ${SECRETS_DIR#"$REPO_ROOT"/}/postgres/$ER_USER) cannot use databases ${ER_DBS[*]}. Stop it (e.g. pg_ctlcluster 15 main stop) or set $(pg_port_var)."
  say "postgres $PG_NAME: reusing existing server on 127.0.0.1:$PG_PORT (not started by this script)"
}

pg_write_config() {
  local conf="$PGDATA/eventreplay.conf"
  cat >"$conf" <<EOF
# generated by eng/services.sh -- rewritten on every start
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 200
# Per-statement timings for profiling (eng/bench.sh reads them); negligible cost.
shared_preload_libraries = 'pg_stat_statements'
EOF
  if [[ $PG_NAME == eventstore ]]; then
    backup_write_config "$BACKUP_CONFIG" "$BACKUP_STANZA" "$PGDATA" "$PG_PORT" "$PG_SOCK" "$BACKUP_REPO" "$PG_SUPER"
    backup_postgres_settings "$BACKUP_CONFIG" "$BACKUP_STANZA" >>"$conf"
  fi
  chown "$PG_OS_USER": "$conf"
  grep -q "^include_if_exists = 'eventreplay.conf'" "$PGDATA/postgresql.conf" \
    || echo "include_if_exists = 'eventreplay.conf'" >>"$PGDATA/postgresql.conf"
}

declare -A PG_STATES   # cluster -> ours | external | (empty: to be started)
pg_preflight() {
  local pid running_port
  if pid=$(pidfile_alive "$PGDATA/postmaster.pid" postgres); then
    running_port=$(sed -n 4p "$PGDATA/postmaster.pid")
    [[ $running_port == "$PG_PORT" ]] \
      || die "postgres $PG_NAME: our server (pid $pid) runs on port $running_port, not $PG_PORT; run '$0 stop $PG_NAME' first"
    PG_STATES[$PG_NAME]=ours
  elif port_open "$PG_PORT"; then
    pg_reuse_external; PG_STATES[$PG_NAME]=external
  fi
}

pg_start() {
  if [[ ${PG_STATES[$PG_NAME]:-} == external ]]; then
    return 0
  elif [[ ${PG_STATES[$PG_NAME]:-} == ours ]]; then
    say "postgres $PG_NAME: already running (pid $(pidfile_alive "$PGDATA/postmaster.pid" postgres))"
  else
    mkdir -p "$PG_DIR"
    [[ $(stat -c %U "$PG_DIR") == "$PG_OS_USER" ]] || chown -R "$PG_OS_USER": "$PG_DIR"
    pg_ensure_traversable
    [[ $PG_SOCK == /tmp ]] || as_pg mkdir -p "$PG_SOCK"
    touch "$PG_LOG"; chown "$PG_OS_USER": "$PG_LOG"
    if [[ ! -s $PGDATA/PG_VERSION ]]; then
      as_pg "$PG_BIN/initdb" -D "$PGDATA" -U "$PG_SUPER" -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >>"$PG_LOG" 2>&1 \
        || die "postgres $PG_NAME: initdb failed; see $PG_LOG"
      say "postgres $PG_NAME: initialized new cluster in ${PGDATA#"$REPO_ROOT"/}"
    fi
    pg_write_config
    # A killed postmaster leaves postmaster.pid and the socket lock file behind;
    # as its pid lingers as a zombie here, postgres itself would think it alive.
    rm -f "$PGDATA/postmaster.pid"
    local lock="$PG_SOCK/.s.PGSQL.$PG_PORT.lock"
    if [[ -f $lock ]] && [[ $(sed -n 2p "$lock") == "$PGDATA" ]] \
       && ! pid_alive "$(sed -n 1p "$lock" | tr -dc 0-9)"; then
      rm -f "$lock" "$PG_SOCK/.s.PGSQL.$PG_PORT"
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t 60 start </dev/null >/dev/null \
      || { tail -n 20 "$PG_LOG" >&2; die "postgres $PG_NAME: failed to start; see $PG_LOG"; }
  fi
  for _ in $(seq 1 60); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.5
  done
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || die "postgres $PG_NAME: not ready on 127.0.0.1:$PG_PORT"
  pg_provision "$PG_SOCK" || die "postgres $PG_NAME: creating role/databases failed"
  pg_verify || die "postgres $PG_NAME: $ER_USER cannot log in over 127.0.0.1:$PG_PORT"
  if [[ $PG_NAME == eventstore ]]; then pg_backup_stanza; fi
  say "postgres $PG_NAME: up on 127.0.0.1:$PG_PORT (user $ER_USER, databases ${ER_DBS[*]})"
}

# The event store's WAL goes to the pgBackRest stanza named in its archive_command: create the stanza if missing.
# A failure here leaves the event store serving (its WAL waits in pg_wal, up to pgBackRest's queue limit) and says why.
pg_backup_stanza() {
  local archiving output
  archiving=$(as_pg "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U "$PG_SUPER" -d postgres -XAtqc 'show archive_mode' 2>/dev/null || true)
  if [[ $archiving != on ]]; then
    say "postgres $PG_NAME: WAL archiving (backups) is off until its next start: $0 stop $PG_NAME, then $0 start $PG_NAME"
    return 0
  fi
  # Written again (the same) for a cluster that was already running: it also makes a repository moved aside anew.
  backup_write_config "$BACKUP_CONFIG" "$BACKUP_STANZA" "$PGDATA" "$PG_PORT" "$PG_SOCK" "$BACKUP_REPO" "$PG_SUPER"
  # stanza-create accepts a stanza that exists and matches the cluster; it refuses a repository of another cluster.
  if ! output=$(backup_ensure_stanza "$BACKUP_CONFIG" "$BACKUP_STANZA" 2>&1); then
    say "postgres $PG_NAME: warning: WAL archiving into ${BACKUP_REPO#"$REPO_ROOT"/} fails: $output"
    say "postgres $PG_NAME: warning: (a repository of an earlier cluster in ${BACKUP_REPO#"$REPO_ROOT"/}? move it aside and run $0 start $PG_NAME again; until then WAL piles up in pg_wal)"
    return 0
  fi
  say "postgres $PG_NAME: WAL archived to ${BACKUP_REPO#"$REPO_ROOT"/} (stanza $BACKUP_STANZA; eng/backup.sh full|diff|info)"
}

pg_stop() {
  if [[ -f $PGDATA/postmaster.pid ]] && pidfile_alive "$PGDATA/postmaster.pid" postgres >/dev/null; then
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null \
      || die "postgres $PG_NAME: pg_ctl stop failed"
    say "postgres $PG_NAME: stopped"
  elif port_open "$PG_PORT"; then
    say "postgres $PG_NAME: :$PG_PORT is served by a server this script did not start; left alone"
  else
    say "postgres $PG_NAME: not running"
  fi
}

# ------------------------------------------------------------------ redis ---
REDIS_STATE=""   # ours | external | (empty: to be started)
REDIS_ACL="$REDIS_DIR/users.acl"
# redis-cli as the administrator (its password in the environment, not the arguments).
redis_admin() { REDISCLI_AUTH=$(secret redis/eventreplay) redis-cli --user eventreplay -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
redis_ping() { [[ $(redis_admin ping 2>/dev/null) == PONG ]]; }
redis_preflight() {
  if pidfile_alive "$REDIS_PID_FILE" redis-server >/dev/null; then
    REDIS_STATE=ours
    # A server of ours from before it had users (anyone may use it): start it again with them.
    if [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; then
      say "redis: our server has no users yet; restarting it with its ACL file"
      redis_stop >/dev/null
      REDIS_STATE=""
    fi
  elif port_open "$REDIS_PORT"; then
    redis_ping \
      || die "redis: port $REDIS_PORT is in use by something that does not answer PING as the user eventreplay (its password in ${SECRETS_DIR#"$REPO_ROOT"/}/redis/eventreplay). Stop it or set ER_REDIS_PORT."
    say "redis: reusing existing server on 127.0.0.1:$REDIS_PORT (not started by this script)"
    REDIS_STATE=external
  fi
}

redis_start() {
  mkdir -p "$REDIS_DIR"
  secret_redis_acl "$REDIS_ACL"
  if [[ $REDIS_STATE == external ]]; then
    return 0
  elif [[ $REDIS_STATE == ours ]]; then
    redis_admin acl load >/dev/null || die "redis: loading $REDIS_ACL failed; see $LOGS/redis.log"
    say "redis: already running (pid $(pidfile_alive "$REDIS_PID_FILE" redis-server)); users loaded again"
  else
    rm -f "$REDIS_PID_FILE"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
      --dir "$REDIS_DIR" --pidfile "$REDIS_PID_FILE" --logfile "$LOGS/redis.log" \
      --appendonly yes --aclfile "$REDIS_ACL" </dev/null >/dev/null \
      || die "redis: failed to start; see $LOGS/redis.log"
  fi
  for _ in $(seq 1 40); do
    redis_ping && break
    sleep 0.25
  done
  redis_ping || { tail -n 20 "$LOGS/redis.log" >&2 || true; die "redis: not answering on 127.0.0.1:$REDIS_PORT"; }
  say "redis: up on 127.0.0.1:$REDIS_PORT (administrator eventreplay; users er-balances, er-statistics; passwords in ${SECRETS_DIR#"$REPO_ROOT"/}/redis)"
}

redis_stop() {
  local pid
  if ! pid=$(pidfile_alive "$REDIS_PID_FILE" redis-server); then
    if port_open "$REDIS_PORT"; then say "redis: :$REDIS_PORT is served by a server this script did not start; left alone"
    else say "redis: not running"; fi
    return 0
  fi
  { redis_admin shutdown nosave || redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave; } >/dev/null 2>&1 \
    || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do pid_alive "$pid" || break; sleep 0.25; done
  pid_alive "$pid" && { kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$REDIS_PID_FILE"
  say "redis: stopped"
}

# The system's queues are declared by its services with the type RabbitMq__QueueType names (quorum unless set);
# RabbitMQ cannot change a queue's type, and the services refuse to start over a queue of the other type. Before any
# service runs, replace such queues when they are empty; leave (and name) those that still hold messages.
rmq_queue_type() {
  have_curl || return 0
  local want=${RabbitMq__QueueType:-quorum} vhost listing name type messages
  want=${want,,}
  for vhost in %2F "$ER_TEST_VHOST"; do
    listing=$(curl -fsS --max-time 10 -u "$ER_USER:$RMQ_PASS" \
      "http://127.0.0.1:$MGMT_PORT/api/queues/$vhost?columns=name,type,messages" 2>/dev/null) || continue
    # One queue per line from [{"messages":0,"name":"…","type":"…"},…] (no JSON tool needed).
    while read -r entry; do
      [[ $entry =~ \"name\":\"([^\"]+)\" ]] && name=${BASH_REMATCH[1]} || continue
      [[ $entry =~ \"type\":\"([^\"]+)\" ]] && type=${BASH_REMATCH[1]} || type=classic
      [[ $entry =~ \"messages\":([0-9]+) ]] && messages=${BASH_REMATCH[1]} || messages=0
      [[ $name =~ ^(balances|statistics)\.(live|replay|dead)$|^replay\.(commands|acks|dead)$ ]] || continue
      [[ $type == "$want" ]] && continue
      if [[ $messages == 0 ]] && rmq_api DELETE "queues/$vhost/$name?if-empty=true"; then
        say "rabbitmq: replaced empty $type queue $name (vhost ${vhost/\%2F//}) so it is declared $want"
      else
        say "rabbitmq: warning: queue $name (vhost ${vhost/\%2F//}) is $type with $messages messages; services asking for $want queues will refuse it until it is drained"
      fi
    done < <(sed 's/},{/}\n{/g' <<<"$listing")
  done
}

# ------------------------------------------------------- event store, HA ---
formation() {
  FORMATION_BACKUP_REPO=$BACKUP_REPO FORMATION_BACKUP_STANZA=eventstore-ha \
    "$SCRIPT_DIR/pg-formation.sh" "$1" "$HA_DIR" "$HA_PORT" $((HA_PORT + 1)) $((HA_PORT + 2)) "${@:2}"
}
formation_running() { [[ -f $HA_DIR/monitor.pid ]] && pid_alive "$(cat "$HA_DIR/monitor.pid" 2>/dev/null)"; }

# -------------------------------------------------------------- commands ---
SERVICES=(readmodels eventstore rabbitmq redis)
WANT=""   # one service named after the command, or all of them
wants() { [[ -z $WANT || $WANT == "$1" ]]; }

cmd_start() {
  local t0; t0=$(now_ms)
  ensure_installed
  mkdir -p "$LOGS"
  chmod 755 "$LOCAL" "$LOGS"
  secret_signing_key
  # Reuse or reject anything already on our ports before spawning anything.
  local cluster
  for cluster in readmodels eventstore; do
    [[ $cluster == eventstore && $EVENTSTORE_HA == 1 ]] && continue
    if wants $cluster; then pg_use $cluster; pg_preflight; fi
  done
  if wants redis; then redis_preflight; fi
  if wants rabbitmq; then rmq_preflight; rmq_launch; fi   # slowest first: boots in the background ...
  for cluster in readmodels eventstore; do                # ... while postgres and redis come up
    [[ $cluster == eventstore && $EVENTSTORE_HA == 1 ]] && continue
    if wants $cluster; then pg_use $cluster; pg_start; fi
  done
  if wants eventstore && [[ $EVENTSTORE_HA == 1 ]]; then formation start; fi
  if wants redis; then redis_start; fi
  if wants rabbitmq; then rmq_finish; rmq_queue_type; fi
  local ms=$(( $(now_ms) - t0 ))
  say "start done in $((ms / 1000)).$(printf '%03d' $((ms % 1000)) | cut -c1-1)s (logs in ${LOGS#"$REPO_ROOT"/})"
}

cmd_stop() {
  local rpid="" cluster
  if wants rabbitmq; then rmq_stop & rpid=$!; fi   # RabbitMQ needs ~6 s to shut down: overlap it with the rest
  for cluster in eventstore readmodels; do
    if wants $cluster; then pg_use $cluster; pg_stop; fi
  done
  # The formation, if one runs, is the event store too: all its nodes stop with it.
  if wants eventstore && formation_running; then formation stop; fi
  if wants redis; then redis_stop; fi
  if [[ -n $rpid ]]; then wait "$rpid"; fi
}

owner_note() {  # owner_note PIDFILE COMM -> " (pid N)" or " (not started by this script)"
  local pid
  if pid=$(pidfile_alive "$1" "$2"); then echo " (pid $pid)"; else echo " (not started by this script)"; fi
}

cmd_status() {
  local down=0 cluster
  if wants eventstore && [[ $EVENTSTORE_HA == 1 ]]; then
    if formation status >/dev/null 2>&1; then
      say "eventstore up    pg_auto_failover formation, primary $(formation primary), monitor 127.0.0.1:$HA_PORT"
    else
      say "eventstore down  pg_auto_failover formation (monitor 127.0.0.1:$HA_PORT)"; down=1
    fi
  fi
  for cluster in readmodels eventstore; do
    wants $cluster || continue
    [[ $cluster == eventstore && $EVENTSTORE_HA == 1 ]] && continue
    pg_use $cluster
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 3 2>/dev/null; then
      if pg_verify; then say "$(printf '%-10s' $cluster) up    127.0.0.1:$PG_PORT$(owner_note "$PGDATA/postmaster.pid" postgres)"
      else say "$(printf '%-10s' $cluster) down  127.0.0.1:$PG_PORT (server answers but $ER_USER cannot use ${ER_DBS[*]})"; down=1; fi
    else
      say "$(printf '%-10s' $cluster) down  127.0.0.1:$PG_PORT"; down=1
    fi
  done
  if wants rabbitmq; then
    if port_open "$AMQP_PORT" && { ! have_curl || rmq_api GET overview; }; then
      say "rabbitmq   up    127.0.0.1:$AMQP_PORT mgmt :$MGMT_PORT$(owner_note "$RMQ_PID_FILE" beam.smp)"
    elif pidfile_alive "$RMQ_PID_FILE" beam.smp >/dev/null; then
      say "rabbitmq   down  127.0.0.1:$AMQP_PORT (node $RMQ_NODE running but not serving yet)"; down=1
    else
      say "rabbitmq   down  127.0.0.1:$AMQP_PORT"; down=1
    fi
  fi
  if wants redis; then
    if redis_ping; then
      say "redis      up    127.0.0.1:$REDIS_PORT$(owner_note "$REDIS_PID_FILE" redis-server)"
    else
      say "redis      down  127.0.0.1:$REDIS_PORT"; down=1
    fi
  fi
  return $down
}

# The administrator's connection details, as export lines for operators and scripts (eval "$(eng/services.sh env)"):
# the owner role's postgresql:// URLs of both databases of the run, the broker's administrator, Redis.
cmd_env() {
  local eventstore="127.0.0.1:$EVENTSTORE_PORT"
  (( EVENTSTORE_HA == 1 )) && eventstore="127.0.0.1:$((HA_PORT + 1)),127.0.0.1:$((HA_PORT + 2))"
  local query=""
  (( EVENTSTORE_HA == 1 )) && query="?target_session_attrs=read-write"
  printf 'export ER_EVENTSTORE_URL=%q\n' "postgresql://$ER_USER:$PG_PASS@$eventstore/${ER_DBS[0]}$query"
  printf 'export ER_READMODELS_URL=%q\n' "postgresql://$ER_USER:$PG_PASS@127.0.0.1:$READMODELS_PORT/${ER_DBS[0]}"
  printf 'export ER_AMQP_URL=%q\n' "amqp://$ER_USER:$RMQ_PASS@127.0.0.1:$AMQP_PORT/"
  printf 'export ER_RABBIT_MGMT_URL=%q\n' "http://127.0.0.1:$MGMT_PORT/"
  printf 'export ER_RABBIT_MGMT_USER=%q\n' "$ER_USER"
  printf 'export ER_RABBIT_MGMT_PASSWORD=%q\n' "$RMQ_PASS"
  printf 'export ER_REDIS_URL=%q\n' "redis://eventreplay:$(secret redis/eventreplay)@127.0.0.1:$REDIS_PORT/0"
}

main() {
  check_port_var ER_PG_PORT "$READMODELS_PORT"
  check_port_var ER_PG_EVENTSTORE_PORT "$EVENTSTORE_PORT"
  check_port_var ER_AMQP_PORT "$AMQP_PORT"
  check_port_var ER_RABBIT_MGMT_PORT "$MGMT_PORT"
  check_port_var ER_REDIS_PORT "$REDIS_PORT"
  check_port_var ER_PG_HA_PORT "$HA_PORT"
  [[ $EVENTSTORE_HA == [01] ]] || die "ER_EVENTSTORE_HA must be 0 or 1"
  [[ $READMODELS_PORT != "$EVENTSTORE_PORT" ]] || die "ER_PG_PORT and ER_PG_EVENTSTORE_PORT must differ"
  WANT=${2:-}
  if [[ -n $WANT && " ${SERVICES[*]} " != *" $WANT "* ]]; then
    echo "usage: $0 start|stop|status [${SERVICES[*]}]" >&2; exit 2
  fi
  case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    switchover)
      # Planned: the formation's secondary becomes its primary (writes are refused for a few seconds).
      formation_running || die "no pg_auto_failover formation runs (ER_EVENTSTORE_HA=1 eng/services.sh start, or eng/run.sh --ha)"
      formation switchover ;;
    *) echo "usage: $0 start|stop|status [${SERVICES[*]}] | env | switchover" >&2; exit 2 ;;
  esac
}

main "$@"
