#!/usr/bin/env bash
# eng/pg-formation.sh COMMAND DIR MONITOR_PORT NODE1_PORT NODE2_PORT [NODE]
#
# A highly available PostgreSQL 15 for the event store: a pg_auto_failover formation of a monitor and two nodes
# (node1, node2) on loopback ports, with synchronous replication (an acknowledged commit is on both nodes), data and
# logs in DIR. Role and databases as eng/services.sh makes them: the role eventreplay (password: eng/secrets.sh), databases eventreplay and
# eventreplay_tests (plus any named in FORMATION_DATABASES). The monitor is tuned to fail over in about 10 s after the
# primary dies (pg_auto_failover's defaults take about 50 s): see /docs or the README, "Failure and recovery".
#
#   start       creates what is missing, starts the monitor and both nodes, waits for a primary and a secondary
#   stop        stops both nodes and the monitor
#   status      the formation's state (pg_autoctl show state); exits non-zero unless a primary is up
#   uri         the Npgsql connection string that finds the primary by itself (database FORMATION_DB or eventreplay)
#   primary     the name of the node that takes writes (node1|node2; none while a failover runs)
#   kill9 NODE  SIGKILL of the node's keeper and every server process, as a crashed host
#   run NODE    starts the node's keeper again (a killed node rejoins as a secondary)
#   switchover  planned: the secondary becomes the primary, the old primary its secondary
#   wait        until the formation has a primary and a secondary again (FORMATION_WAIT seconds, default 120)
#   events      the monitor's record of state changes, oldest first (time, node, reported, assigned, description)
#   reform      a new formation around node1's data directory as it is (eng/restore.sh --in-place restores into it):
#               drops the monitor, node2 and every keeper's state, then starts as `start` does, node1 registered as
#               the primary with its data and node2 made anew as its copy. node2's data is thrown away: refused while
#               any part of the formation runs (eng/restore.sh stops it first)
#
# With FORMATION_BACKUP_REPO=PATH when it is created, the formation archives its WAL with pgBackRest into that
# repository, stanza FORMATION_BACKUP_STANZA (default eventstore), whichever node is the primary: its configuration
# is DIR/pgbackrest/pgbackrest.conf (both nodes, pg1 and pg2; pgBackRest finds the primary by itself), which
# eng/backup.sh and eng/restore.sh take with --config. Backups taken before a failover restore past it.
#
# pg_autoctl and initdb refuse to run as root: they run as the postgres user (when run as root) with their XDG
# folders under DIR.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
source "$(dirname "${BASH_SOURCE[0]}")/backup/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/secrets.sh"

usage="usage: $0 start|stop|status|uri|primary|kill9 NODE|run NODE|switchover|wait|events|reform DIR MONITOR_PORT NODE1_PORT NODE2_PORT [NODE]"
action=${1:?$usage}
dir=${2:?$usage}
monitor_port=${3:?$usage}
node1_port=${4:?$usage}
node2_port=${5:?$usage}
node=${6:-}
for port in "$monitor_port" "$node1_port" "$node2_port"; do
  [[ $port =~ ^[0-9]+$ ]] || { echo "$usage" >&2; exit 2; }
done

bin=/usr/lib/postgresql/15/bin
dir=$(mkdir -p "$dir" && cd "$dir" && pwd -P)
logs="$dir/logs"
monitor="$dir/monitor"
monitor_uri="postgres://autoctl_node@127.0.0.1:$monitor_port/pg_auto_failover?sslmode=disable"
databases=(eventreplay eventreplay_tests ${FORMATION_DATABASES:-})
# The nodes' unix sockets: the packaged default, where pg_autoctl's servers put them.
sockets=/var/run/postgresql
backup_config="$dir/pgbackrest/pgbackrest.conf"
backup_settings="$dir/backup.settings"   # the repository and stanza, fixed when the formation is created (not DIR/backup: pg_autoctl's own)

say() { echo "formation: $*"; }
die() { echo "formation: ERROR: $*" >&2; exit 1; }

node_dir() { echo "$dir/$1"; }
node_port() { case $1 in node1) echo "$node1_port" ;; node2) echo "$node2_port" ;; *) die "no node $1 (node1|node2)" ;; esac; }

# Everything pg_autoctl runs under: the postgres user, PostgreSQL 15's binaries first, its state under DIR.
as_pg() {
  local env=(env "PATH=$bin:/usr/bin:/bin" "XDG_CONFIG_HOME=$dir/xdg/config" "XDG_DATA_HOME=$dir/xdg/data"
             "XDG_RUNTIME_DIR=$dir/xdg/run")
  if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "${env[@]}" "$@"); else (cd / && "${env[@]}" "$@"); fi
}

sql() {  # sql PORT DB SQL: as the superuser, over 127.0.0.1 (the formation trusts loopback connections)
  as_pg "$bin/psql" -h 127.0.0.1 -p "$1" -U postgres -d "$2" -XqAt -v ON_ERROR_STOP=1 <<<"$3"
}

# Alive and not a zombie (this machine's init does not reap daemons).
alive() {
  local line rest
  [[ ${1:-} =~ ^[0-9]+$ ]] || return 1
  line=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${line##*) }
  [[ ${rest%% *} != [ZX] ]]
}

keeper_pid() { local pid; pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1; alive "$pid" || return 1; echo "$pid"; }

# Starts `pg_autoctl run` for a data directory in a session of its own, so kill9 can take the keeper and its
# PostgreSQL together; its pid (= the session id) goes to DIR/NAME.pid.
run_keeper() {  # run_keeper NAME PGDATA
  if keeper_pid "$1" >/dev/null; then return 0; fi
  clear_stale_locks "$2"
  touch "$logs/$1.log"
  chown -R postgres: "$logs" 2>/dev/null || true
  as_pg setsid bash -c 'echo $$ >"$1"; exec pg_autoctl run --pgdata "$2" >>"$3" 2>&1' _ \
    "$dir/$1.pid" "$2" "$logs/$1.log" </dev/null >/dev/null 2>&1 &
  local _
  for _ in $(seq 1 50); do [[ -s $dir/$1.pid ]] && break; sleep 0.1; done
}

# A killed postmaster leaves postmaster.pid (and its socket's lock file) behind; as its pid lingers here as an
# unreaped zombie, PostgreSQL would take it for a running server and refuse to start.
clear_stale_locks() {  # clear_stale_locks PGDATA
  local pid port
  [[ -f $1/postmaster.pid ]] || return 0
  pid=$(head -1 "$1/postmaster.pid")
  alive "$pid" && return 0
  port=$(sed -n 4p "$1/postmaster.pid")
  rm -f "$1/postmaster.pid" "/tmp/.s.PGSQL.$port.lock" "/tmp/.s.PGSQL.$port"
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local seconds=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || die "$what not reached after $seconds s (logs in $logs)"
    sleep 0.2
  done
}

# The nodes' states as the monitor reports them: "node1 primary primary" per line (name, reported, assigned).
states() {
  sql "$monitor_port" pg_auto_failover \
    "select nodename, reportedstate, goalstate from pgautofailover.node order by nodeid" 2>/dev/null | tr '|' ' '
}

# The node that takes writes: the primary, or a primary that lost its secondary (wait_primary), or a lone node.
primary() { states | awk '$2 == $3 && $2 ~ /^(primary|wait_primary|single)$/ { print $1 }'; }
alone() { states | grep -qE "^$1 single single\$"; }
settled() { local s; s=$(states); grep -qE '^node[12] primary primary$' <<<"$s" && grep -qE '^node[12] secondary secondary$' <<<"$s"; }

create_monitor() {
  [[ -f $monitor/PG_VERSION ]] && return 0
  as_pg pg_autoctl create monitor --pgdata "$monitor" --pgport "$monitor_port" --hostname 127.0.0.1 \
    --auth trust --no-ssl >>"$logs/monitor.log" 2>&1 || die "creating the monitor failed (see $logs/monitor.log)"
  as_pg pg_autoctl config set --pgdata "$monitor" postgresql.listen_addresses 127.0.0.1 >/dev/null
}

# Fail over in ~10 s instead of ~50 s: probe every second, give up on a node after 3 s, and wait 5 s for a primary
# that may still run, cut off, to demote itself (its keeper's partition timeout, 3 s, stays below that).
tune_monitor() {
  sql "$monitor_port" pg_auto_failover "
    alter system set pgautofailover.health_check_period = 1000;
    alter system set pgautofailover.health_check_timeout = 1000;
    alter system set pgautofailover.health_check_max_retries = 1;
    alter system set pgautofailover.health_check_retry_delay = 500;
    alter system set pgautofailover.node_considered_unhealthy_timeout = 3000;
    alter system set pgautofailover.primary_demote_timeout = 5000;
    select pg_reload_conf();" >/dev/null
}

# A node's keeper was created for its data directory (pg_autoctl's configuration under DIR/xdg).
registered() { [[ -f $dir/xdg/config/pg_autoctl$(node_dir "$1")/pg_autoctl.cfg ]]; }

create_node() {  # create_node NAME: a new node, or (when it has a data directory but no keeper) one registered with its data
  local name=$1 pgdata port
  pgdata=$(node_dir "$name")
  port=$(node_port "$name")
  [[ -f $pgdata/PG_VERSION ]] && registered "$name" && return 0
  as_pg pg_autoctl create postgres --pgdata "$pgdata" --pgport "$port" --hostname 127.0.0.1 --listen 127.0.0.1 \
    --name "$name" --dbname eventreplay --monitor "$monitor_uri" --auth trust --no-ssl >>"$logs/$name.log" 2>&1 \
    || die "creating $name failed (see $logs/$name.log)"
  as_pg pg_autoctl config set --pgdata "$pgdata" timeout.network_partition_timeout 3 >/dev/null
}

# The first node, before its first start: our settings and password logins from loopback. The second node is a copy
# of the first (pg_basebackup), so it gets them all.
configure_node1() {
  local pgdata
  pgdata=$(node_dir node1)
  [[ -f $pgdata/eventreplay.conf ]] && return 0
  cat >"$pgdata/eventreplay.conf" <<EOF
# generated by eng/pg-formation.sh
max_connections = 200
shared_preload_libraries = 'pg_stat_statements'
EOF
  if backing_up; then
    write_backup_config
    # Each node pushes from its own data directory (archive_command runs in it), with a spool and a lock of its own:
    # with shared ones, a demoted primary's last segment waits out the 60-s archive timeout behind the new primary's
    # push, and so does its shutdown.
    backup_postgres_settings "$backup_config" "$(sed -n 2p "$backup_settings")" \
      '--pg1-path="$(pwd)" --spool-path="$(pwd).pgbackrest/spool" --lock-path="$(pwd).pgbackrest/lock"' >>"$pgdata/eventreplay.conf"
    # Each commit's time, by which a restore to a time can be checked against the transactions it should hold.
    echo "track_commit_timestamp = on" >>"$pgdata/eventreplay.conf"
  fi
  echo "include_if_exists = 'eventreplay.conf'" >>"$pgdata/postgresql.conf"
  echo "host all eventreplay 127.0.0.1/32 scram-sha-256" >>"$pgdata/pg_hba.conf"
  chown postgres: "$pgdata/eventreplay.conf" 2>/dev/null || true
}

# The formation's pgBackRest configuration, rewritten at every start: the nodes that exist, node1 as pg1.
write_backup_config() {
  local repo stanza name index=1
  { read -r repo; read -r stanza; } <"$backup_settings"
  backup_write_config "$backup_config" "$stanza" "$(node_dir node1)" "$node1_port" "$sockets" "$repo" postgres
  for name in node2; do
    [[ -f $(node_dir "$name")/PG_VERSION ]] || continue
    index=$((index + 1))
    printf 'pg%s-path=%s\npg%s-port=%s\npg%s-socket-path=%s\npg%s-user=postgres\n' "$index" "$(node_dir "$name")" \
      "$index" "$(node_port "$name")" "$index" "$sockets" "$index" >>"$backup_config"
  done
}

backing_up() { [[ -f $backup_settings ]]; }

ensure_stanza() {
  local output
  output=$(backup_ensure_stanza "$backup_config" "$(sed -n 2p "$backup_settings")" 2>&1) \
    || die "creating the pgBackRest stanza failed: $output"
}

# Once it runs: our role and databases.
provision_node1() {
  local db
  sql "$node1_port" postgres "do \$\$begin
      if not exists (select from pg_roles where rolname = 'eventreplay') then
        create role eventreplay login createdb password '$(secret postgres/eventreplay)';
      end if; end\$\$;" >/dev/null
  # The services' own login roles (eng/secrets.sh, eng/migrate.sh grants them what each uses).
  sql "$node1_port" postgres "$(secret_pg_roles_sql)" >/dev/null
  for db in "${databases[@]}"; do
    if [[ -z $(sql "$node1_port" postgres "select 1 from pg_database where datname = '$db'") ]]; then
      sql "$node1_port" postgres "create database \"$db\" owner eventreplay" >/dev/null
    else
      sql "$node1_port" postgres "alter database \"$db\" owner to eventreplay" >/dev/null
    fi
  done
}

cmd_start() {
  mkdir -p "$logs" "$dir/xdg/config" "$dir/xdg/data" "$dir/xdg/run"
  if [[ $EUID -eq 0 ]]; then
    chown -R postgres: "$dir"
    # The postgres user must be able to reach DIR.
    local d="" part
    IFS=/ read -ra parts <<<"${dir#/}"
    for part in "${parts[@]}"; do d="$d/$part"; as_pg test -x "$d" || chmod o+x "$d"; done
  fi
  chmod 700 "$dir/xdg/run"
  # pg_autoctl's servers keep their sockets in the packaged default, which a machine without systemd may lack.
  if [[ $EUID -eq 0 && ! -d /var/run/postgresql ]]; then
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  fi
  local started=$SECONDS
  echo "$monitor_port $node1_port $node2_port" >"$dir/ports"   # for eng/restore.sh --in-place, which knows DIR alone
  create_monitor
  run_keeper monitor "$monitor"
  wait_for 60 "the monitor" sql "$monitor_port" pg_auto_failover "select 1"
  tune_monitor
  if [[ ! -f $(node_dir node1)/PG_VERSION ]]; then
    if [[ -n ${FORMATION_BACKUP_REPO:-} ]]; then
      mkdir -p "$FORMATION_BACKUP_REPO"
      printf '%s\n%s\n' "$(cd "$FORMATION_BACKUP_REPO" && pwd -P)" "${FORMATION_BACKUP_STANZA:-eventstore}" >"$backup_settings"
    fi
    create_node node1
    configure_node1
    run_keeper node1 "$(node_dir node1)"
    wait_for 60 "node1 as the only node" alone node1
    wait_for 60 "node1 accepting connections" sql "$node1_port" postgres "select 1"
    provision_node1
    if backing_up; then ensure_stanza; fi
  elif ! registered node1; then
    # node1's data without its keeper (reform): pg_autoctl registers a stopped cluster that is the first of its group
    # as it is, the primary, with its data, roles and settings.
    create_node node1
    run_keeper node1 "$(node_dir node1)"
    wait_for 120 "node1 as the only node" alone node1
    wait_for 60 "node1 accepting connections" sql "$node1_port" postgres "select 1"
    provision_node1   # roles and passwords as they are now (the data may be from before a rotation)
  fi
  if [[ ! -f $(node_dir node2)/PG_VERSION ]]; then
    # node2 starts as a pg_basebackup of node1, which waits for a spread checkpoint (a minute or more on a quiet
    # server): immediate checkpoints on node1 meanwhile let the copy start at once.
    run_keeper node1 "$(node_dir node1)"
    wait_for 60 "node1 accepting connections" sql "$node1_port" postgres "select 1"
    ( while :; do sql "$node1_port" postgres "checkpoint" || true; sleep 2; done ) >/dev/null 2>&1 &
    local nudger=$!
    create_node node2
    kill "$nudger" 2>/dev/null || true
    wait "$nudger" 2>/dev/null || true
  fi
  run_keeper node1 "$(node_dir node1)"
  run_keeper node2 "$(node_dir node2)"
  cmd_wait
  if [[ -n ${FORMATION_BACKUP_REPO:-} ]] && ! backing_up; then
    say "WARNING: created without WAL archiving, so it has no backups: stop it and remove $dir to have it created anew with them"
  fi
  if backing_up; then
    write_backup_config
    ensure_stanza
    say "WAL archived by the primary into $(sed -n 1p "$backup_settings") (stanza $(sed -n 2p "$backup_settings"), configuration $backup_config)"
  fi
  say "up in $((SECONDS - started)) s: primary $(primary), monitor 127.0.0.1:$monitor_port, nodes 127.0.0.1:$node1_port,$node2_port"
}

cmd_wait() { wait_for "${FORMATION_WAIT:-120}" "a primary and a secondary" settled; }

cmd_stop() {
  local name pid
  for name in node2 node1 monitor; do
    pid=$(keeper_pid "$name") || continue
    local pgdata=$monitor
    [[ $name == monitor ]] || pgdata=$(node_dir "$name")
    as_pg pg_autoctl stop --pgdata "$pgdata" >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    local _
    for _ in $(seq 1 150); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    rm -f "$dir/$name.pid"   # a later stop must not signal whatever process reuses the number
  done
  say "stopped"
}

cmd_reform() {
  local name
  [[ -f $(node_dir node1)/PG_VERSION ]] || die "node1 has no data directory to form a formation around"
  for name in monitor node1 node2; do
    ! keeper_pid "$name" >/dev/null || die "$name runs: reform throws node2's data away, so it is for a stopped formation whose node1 was restored (eng/restore.sh --in-place)"
  done
  # A postmaster whose keeper died (kill9) may still hold node2's files.
  if [[ -f $(node_dir node2)/postmaster.pid ]] && alive "$(head -1 "$(node_dir node2)/postmaster.pid")"; then
    as_pg "$bin/pg_ctl" -D "$(node_dir node2)" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  clear_stale_locks "$(node_dir node1)"
  rm -rf "$monitor" "$(node_dir node2)" "$(node_dir node2).pgbackrest" "$dir/xdg" "$dir/monitor.pid" "$dir/node1.pid" "$dir/node2.pid"
  say "formed anew around node1's data: a new monitor, node2 a new copy"
  cmd_start
}

cmd_kill9() {
  local pid pgdata processes=()
  pgdata=$(node_dir "$node")
  pid=$(keeper_pid "$node") || die "$node is not running"
  # The keeper's session (its services and the postmaster it started), and the postmaster and its children whatever
  # session they are in.
  mapfile -t processes < <(
    ps -eo pid=,sid= | awk -v sid="$pid" '$2 == sid { print $1 }'
    if [[ -f $pgdata/postmaster.pid ]]; then
      postmaster=$(head -1 "$pgdata/postmaster.pid")
      echo "$postmaster"; pgrep -P "$postmaster"
    fi)
  kill -KILL "${processes[@]}" 2>/dev/null || true
  local p
  for p in "${processes[@]}"; do
    while [[ $(ps -o stat= -p "$p" 2>/dev/null) == [^Z]* ]]; do sleep 0.05; done
  done
  clear_stale_locks "$pgdata"
}

case "$action" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status)
    as_pg pg_autoctl show state --pgdata "$monitor" 2>/dev/null || true
    [[ -n $(primary) ]]
    ;;
  uri)
    echo "Host=127.0.0.1:$node1_port,127.0.0.1:$node2_port;Database=${FORMATION_DB:-eventreplay};Username=eventreplay;Target Session Attributes=primary;Host Recheck Seconds=1;Timeout=3;Command Timeout=4"
    ;;
  primary) primary ;;
  kill9) [[ -n $node ]] || die "$usage"; node_port "$node" >/dev/null; cmd_kill9 ;;
  run) [[ -n $node ]] || die "$usage"; node_port "$node" >/dev/null; run_keeper "$node" "$(node_dir "$node")" ;;
  switchover)
    # pg_autoctl prints a harmless "invalid input syntax for type integer" error while it waits: judge by the states.
    before=$(primary)
    as_pg pg_autoctl perform switchover --monitor "$monitor_uri" >>"$logs/switchover.log" 2>&1 || true
    cmd_wait
    after=$(primary)
    [[ $after != "$before" ]] || die "the primary is still $before after the switchover"
    say "switched over: $before -> $after"
    ;;
  wait) cmd_wait ;;
  reform) cmd_reform ;;
  events)
    sql "$monitor_port" pg_auto_failover "select to_char(eventtime, 'HH24:MI:SS.MS'), nodename, reportedstate, goalstate,
        description from pgautofailover.event order by eventid" | tr '|' ' '
    ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
