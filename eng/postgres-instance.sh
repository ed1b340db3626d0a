#!/usr/bin/env bash
# eng/postgres-instance.sh start|stop|kill|pause|resume DIR PORT
#
# A throwaway PostgreSQL 15 server for tests that must stop and restart the database (outage tests),
# so they never touch the shared server that eng/services.sh runs. Loopback only, role and database
# `eventreplay` (password `eventreplay`), data in DIR. fsync is off: the data is disposable.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

action=${1:?usage: $0 start|stop|kill|pause|resume DIR PORT}
dir=${2:?usage: $0 start|stop|kill|pause|resume DIR PORT}
port=${3:?usage: $0 start|stop|kill|pause|resume DIR PORT}
bin=/usr/lib/postgresql/15/bin
data="$dir/data"

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
      as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
      as_pg "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -XqAt -v ON_ERROR_STOP=1 \
        -c "create role eventreplay login password 'eventreplay'" -c "create database eventreplay owner eventreplay" >/dev/null
    else
      as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    fi
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    ;;
  kill)
    # Like a crash or a pulled plug: no shutdown checkpoint, clients see their connections drop.
    as_pg "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null
    ;;
  pause|resume)
    # pause freezes every server process (SIGSTOP): connections stay open but nothing answers, like a hung host.
    pid=$(head -1 "$data/postmaster.pid")
    signal=STOP; [[ $action == resume ]] && signal=CONT
    # shellcheck disable=SC2046
    kill -"$signal" "$pid" $(pgrep -P "$pid")
    ;;
  *)
    echo "usage: $0 start|stop|kill|pause|resume DIR PORT" >&2
    exit 2
    ;;
esac
