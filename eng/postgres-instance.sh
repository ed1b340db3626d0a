#!/usr/bin/env bash
# eng/postgres-instance.sh start|stop|kill|kill9|pause|resume|snapshot|rollback DIR PORT [--archive]
# eng/postgres-instance.sh sync-standby DIR PORT [NAME]
#
# A throwaway PostgreSQL 15 server for tests that must stop and restart the database (outage tests),
# so they never touch the shared server that eng/services.sh runs. Loopback only, role and database
# `eventreplay` (its password that of the shared clusters' role, eng/secrets.sh: .local/secrets/pgpass has it), data in DIR. fsync is off: the data is disposable.
# --archive (at the first start) archives its WAL into a pgBackRest repository of its own, as the event store's
# cluster does: configuration DIR/pgbackrest/pgbackrest.conf, stanza `eventstore`, repository DIR/backups; the
# stanza is created at start. eng/backup.sh and eng/restore.sh take that configuration with --config.
# sync-standby NAME makes every commit wait for a synchronous standby of that name, which never comes: the server is a
# primary whose standby stopped answering or was promoted away from it. Without NAME, commits wait for none again (and
# those waiting complete).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
source "$(dirname "${BASH_SOURCE[0]}")/backup/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/secrets.sh"

usage="usage: $0 start|stop|kill|kill9|pause|resume|snapshot|rollback DIR PORT [--archive] | sync-standby DIR PORT [NAME]"
action=${1:?$usage}
dir=${2:?$usage}
port=${3:?$usage}
archive=${4:-}
standby=""
if [[ $action == sync-standby ]]; then standby=$archive archive=""; fi
[[ -z $archive || $archive == --archive ]] || { echo "$usage" >&2; exit 2; }
[[ $standby =~ ^[a-z0-9_]*$ ]] || { echo "a standby's name is [a-z0-9_]" >&2; exit 2; }
bin=/usr/lib/postgresql/15/bin
data="$dir/data"
backup_config="$dir/pgbackrest/pgbackrest.conf"

as_pg() { if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else (cd / && "$@"); fi; }

case "$action" in
  start)
    mkdir -p "$dir"
    if [[ $EUID -eq 0 ]]; then
      chown postgres: "$dir"
      # The postgres user must be able to reach DIR.
      d=""; IFS=/ read -ra parts <<<"${dir#/}"
      for part in "${parts[@]}"; do d="$d/$part"; as_pg test -x "$d" || chmod o+x "$d"; done
    fi
    if [[ ! -f "$data/PG_VERSION" ]]; then
      as_pg "$bin/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
      if [[ -n $archive ]]; then
        backup_write_config "$backup_config" eventstore "$data" "$port" "$dir" "$dir/backups" postgres
        backup_postgres_settings "$backup_config" eventstore >"$data/archive.conf"
        # Each row's commit time (pg_xact_commit_timestamp(xmin)): how a test tells which rows a restore to a time must hold.
        echo "track_commit_timestamp = on" >>"$data/archive.conf"
        chown "$(backup_pg_user)": "$data/archive.conf"
        echo "include_if_exists = 'archive.conf'" >>"$data/postgresql.conf"
      fi
      as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
      as_pg "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -XqAt -v ON_ERROR_STOP=1 \
        -c "create role eventreplay login password '$(secret postgres/eventreplay)'" -c "create database eventreplay owner eventreplay" \
        -c "$(secret_pg_roles_sql)" >/dev/null
    else
      as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    fi
    if [[ -f $data/archive.conf ]]; then backup_ensure_stanza "$backup_config" eventstore >/dev/null; fi
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    ;;
  kill)
    # Like a crash or a pulled plug: no shutdown checkpoint, clients see their connections drop.
    as_pg "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null
    ;;
  kill9)
    # SIGKILL of the postmaster and every server process at once, as the kernel's OOM killer or a killed container
    # does: nothing is told, nothing is flushed, the next start runs crash recovery.
    pid=$(head -1 "$data/postmaster.pid")
    mapfile -t processes < <(echo "$pid"; pgrep -P "$pid")
    kill -KILL "${processes[@]}"
    # Dead once gone or a zombie (nothing may reap them here): the lock file is then stale, as after a reboot,
    # and so are the socket lock files: removed so the next start does not take an unreaped zombie for a running server.
    for p in "${processes[@]}"; do
      while [[ $(ps -o stat= -p "$p" 2>/dev/null) == [^Z]* ]]; do sleep 0.1; done
    done
    rm -f "$data/postmaster.pid" "$dir/.s.PGSQL.$port.lock" "$dir/.s.PGSQL.$port"
    ;;
  pause|resume)
    # pause freezes every server process (SIGSTOP): connections stay open but nothing answers, like a hung host.
    pid=$(head -1 "$data/postmaster.pid")
    signal=STOP; [[ $action == resume ]] && signal=CONT
    # shellcheck disable=SC2046
    kill -"$signal" "$pid" $(pgrep -P "$pid")
    ;;
  sync-standby)
    as_pg "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -XqAt -v ON_ERROR_STOP=1 \
      -c "alter system set synchronous_standby_names = '$standby'" -c "select pg_reload_conf()" >/dev/null
    ;;
  snapshot|rollback)
    # A cold copy of the stopped server's files, and putting it back: the server as it was, as after a restore from a
    # backup made by other means than eng/restore.sh.
    [[ ! -f $data/postmaster.pid ]] || { echo "stop the server first" >&2; exit 1; }
    if [[ $action == snapshot ]]; then from=$data to=$dir/snapshot; else from=$dir/snapshot to=$data; fi
    rm -rf "$to"
    cp -a "$from" "$to"
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
