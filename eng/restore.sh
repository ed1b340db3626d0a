#!/usr/bin/env bash
# eng/restore.sh --time T | --lsn L | --latest [--port P] [--dir DIR] [--database DB] [--config FILE] [--stanza NAME]
# eng/restore.sh --in-place --time T | --lsn L | --latest [--database DB] [--config FILE] [--stanza NAME]
#
# Point-in-time restore of the event store's PostgreSQL cluster from its pgBackRest backups and WAL archive
# (eng/backup.sh). The target:
#   --time T   every transaction committed at or before T (a PostgreSQL timestamp, e.g. '2026-12-02 10:15:00+00' or
#              2026-12-02T10:15:00.123Z; without a zone it is UTC)
#   --lsn L    every WAL record up to the log sequence number L (e.g. 0/3A0001C8, from pg_current_wal_lsn())
#   --latest   everything the WAL archive holds
# Without --in-place the backup is restored into a new cluster: a new data directory (DIR, default
# .local/restores/STANZA-YYYYmmdd-HHMMSS; DIR/data holds the data, DIR/postgres.log its log, DIR its socket), started on
# port P (default: a free one from 5440 on) with WAL archiving off; the cluster backed up is not touched. Stop it with
# `pg_ctl -D DIR/data stop` (as the postgres user) and remove DIR when done.
# --in-place restores the cluster backed up itself, as an operator does after its data was destroyed: the cluster is
# stopped, its data directory restored over (pgBackRest --delta) and started again, archiving as before. Everything
# it recorded after the target is gone from it (the WAL archive still holds it). A formation's (eng/pg-formation.sh,
# ER_EVENTSTORE_HA=1) is restored into node1's data directory and formed anew around it (pg-formation.sh reform):
# node1 the primary with the restored data, node2 a new copy of it, so no node keeps the history the restore removed.
#
# Before restoring while the cluster runs, the script commits a transaction and has the current WAL segment archived
# (pgBackRest check), so the archive reaches past the target (or holds all of the WAL, for --latest). It waits until
# recovery has really ended (pg_is_in_recovery() false), then prints what it restored, one `name: value` line each:
#   target, backup (the set restored from), data, port, database, position (the last event position: the highest
#   seq_id of producer.mt_events), events (their count), checksum (md5 over the events in position order, see below),
#   epoch (the restored store's new identity, see the README's "When the event store goes back in time"),
#   replayed (the last transaction replayed, by its commit time) and took (the restore's duration, and by phase: checks
#   with the WAL archived, files restored from the backup, recovery replaying the WAL, summary).
# The checksum is md5 of the concatenated md5s of each event's `seq_id|stream_id|version|type|data` in seq_id order, so
# `select md5(coalesce(string_agg(md5(concat_ws('|', seq_id, stream_id, version, type, data::text)), '' order by seq_id), ''))
#  from producer.mt_events` on another server compares its events with the restored ones.
#
# Refused with a message and exit 1, before anything is stopped or written: no backup, a target before the end of the
# oldest backup, a time in the future, an LSN past the end of the WAL, a port in use, --in-place --latest while the
# cluster runs (what it writes between its WAL being archived and its stop would be lost: stop it first, or name a
# time or LSN); exit 2 for bad arguments. A target past the end
# of the WAL archive (the cluster down, so its last WAL could not be archived) is found by PostgreSQL's recovery: the
# script says so and exits 1 (with --in-place the cluster is then left stopped: restore again to an earlier target).
#
# --database DB  the database whose events are summed up (default eventreplay)
# --config FILE  (or ER_BACKUP_CONFIG) the pgBackRest configuration naming the cluster and repository; default
#                .local/pgbackrest/pgbackrest.conf (eng/services.sh); eng/postgres-instance.sh --archive writes one for a
#                throwaway server. With ER_EVENTSTORE_HA=1: the formation's, .local/eventstore-ha/pgbackrest/pgbackrest.conf
#                (its checks read whichever node is the primary).
# --stanza NAME  (or ER_BACKUP_STANZA) default eventstore (eventstore-ha with ER_EVENTSTORE_HA=1)
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd -P)
source "$SCRIPT_DIR/backup/lib.sh"
PG_BIN=$BACKUP_PG_BIN
STARTED_NS=$(date +%s%N)
# How long each phase took, for the summary: phase NAME records the time since the last mark.
PHASES=()
mark() { MARK_NS=$(date +%s%N); }
phase() { local ms=$(( ($(date +%s%N) - MARK_NS) / 1000000 )); PHASES+=("$1 $((ms / 1000)).$(((ms % 1000) / 100)) s"); }
MARK_NS=$STARTED_NS

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
say() { echo "restore: $*" >&2; }
die() { echo "restore: ERROR: $*" >&2; exit 1; }
bad_usage() {
  echo "restore: $*" >&2
  echo "usage: $0 --time T | --lsn L | --latest [--port P] [--dir DIR] [--in-place] [--database DB] [--config FILE] [--stanza NAME] (--help)" >&2
  exit 2
}

# ------------------------------------------------------------------ arguments ---
read -r CONFIG STANZA <<<"$(backup_event_store "$REPO_ROOT")"
TYPE="" TARGET="" PORT="" DIR="" IN_PLACE="" DATABASE=eventreplay
set_target() {
  [[ -z $TYPE ]] || bad_usage "one target only: --time, --lsn or --latest"
  TYPE=$1 TARGET=${2:-}
}
needs_value() { (( $2 >= 2 )) || bad_usage "$1 needs a value"; }
while (( $# )); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --time) needs_value "$1" $#; set_target time "$2"; shift ;;
    --time=*) set_target time "${1#*=}" ;;
    --lsn) needs_value "$1" $#; set_target lsn "$2"; shift ;;
    --lsn=*) set_target lsn "${1#*=}" ;;
    --latest) set_target latest ;;
    --port) needs_value "$1" $#; PORT=$2; shift ;;
    --port=*) PORT=${1#*=} ;;
    --dir) needs_value "$1" $#; DIR=$2; shift ;;
    --dir=*) DIR=${1#*=} ;;
    --in-place) IN_PLACE=1 ;;
    --database) needs_value "$1" $#; DATABASE=$2; shift ;;
    --database=*) DATABASE=${1#*=} ;;
    --config) needs_value "$1" $#; CONFIG=$2; shift ;;
    --config=*) CONFIG=${1#*=} ;;
    --stanza) needs_value "$1" $#; STANZA=$2; shift ;;
    --stanza=*) STANZA=${1#*=} ;;
    *) bad_usage "unknown argument '$1'" ;;
  esac
  shift
done

[[ -n $TYPE ]] || bad_usage "name a target: --time T, --lsn L or --latest"
case $TYPE in
  time)
    [[ -n $TARGET ]] || bad_usage "--time needs a timestamp"
    # Read as UTC unless it names a zone; written back with one, so the restored server's TimeZone cannot shift it.
    TARGET_EPOCH=$(TZ=UTC date -d "$TARGET" +%s.%6N 2>/dev/null) || bad_usage "--time '$TARGET' is not a timestamp (e.g. '2026-12-02 10:15:00+00')"
    TARGET_US=$(TZ=UTC date -d "$TARGET" +%s%6N)   # microseconds since 1970, to compare with the database's clock
    TARGET=$(date -u -d "@$TARGET_EPOCH" '+%Y-%m-%d %H:%M:%S.%6N+00')
    ;;
  lsn)
    [[ $TARGET =~ ^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$ ]] || bad_usage "--lsn '$TARGET' is not an LSN (e.g. 0/3A0001C8)"
    TARGET=${TARGET^^}
    ;;
esac
if [[ -n $IN_PLACE ]]; then
  [[ -z $PORT ]] || bad_usage "--port is for a restore into a new cluster; --in-place restarts the cluster on its own port"
  [[ -z $DIR ]] || bad_usage "--dir is for a restore into a new cluster; --in-place restores the cluster's own data directory"
fi
if [[ -n $PORT ]] && { [[ ! $PORT =~ ^[0-9]{1,5}$ ]] || (( 10#$PORT < 1 || 10#$PORT > 65535 )); }; then
  bad_usage "--port '$PORT' is not a port (1-65535)"
fi
[[ $DATABASE =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || bad_usage "--database '$DATABASE' is not a plain database name"
[[ $STANZA =~ ^[A-Za-z0-9_-]+$ ]] || bad_usage "--stanza '$STANZA' is not a stanza name (letters, digits, _ and -)"

# ---------------------------------------------------------------- the cluster ---
[[ -f $CONFIG ]] || die "no pgBackRest configuration at $CONFIG: eng/services.sh start eventstore writes it (or pass --config)"
grep -q "^\[$STANZA\]" "$CONFIG" || die "$CONFIG has no stanza [$STANZA]"
REPO=$(backup_config_value "$CONFIG" repo1-path) || die "$CONFIG names no repository (repo1-path)"
backup_config_value "$CONFIG" pg1-path >/dev/null || die "$CONFIG names no cluster (pg1-path)"
# The cluster backed up; of a formation's nodes, the primary.
read -r SOURCE_DATA SOURCE_PORT SOURCE_SOCKET SUPERUSER <<<"$(backup_source "$CONFIG")"
# A formation's configuration is DIR/pgbackrest/pgbackrest.conf, and DIR/ports its monitor's and nodes' ports.
FORMATION=""
if [[ -n $IN_PLACE ]] && (( $(backup_nodes "$CONFIG") > 1 )); then
  FORMATION=$(cd "$(dirname "$CONFIG")/.." && pwd -P)
  [[ -r $FORMATION/ports ]] && read -r -a FORMATION_PORTS <"$FORMATION/ports" && (( ${#FORMATION_PORTS[@]} == 3 )) \
    || die "$CONFIG names $(backup_nodes "$CONFIG") nodes but $FORMATION/ports (written by eng/pg-formation.sh start) is missing: is $FORMATION a formation?"
fi
backup_stanza_exists "$CONFIG" "$STANZA" || die "no backup: the repository $REPO has no stanza '$STANZA'"

pgbackrest_() { backup_as_pg "$BACKUP_PGBACKREST" --config="$CONFIG" --stanza="$STANZA" "$@"; }
psql_() {  # psql_ SOCKET PORT DB SQL: one value, as the superuser over the unix socket
  backup_as_pg "$PG_BIN/psql" -h "$1" -p "$2" -U "$SUPERUSER" -d "$3" -XAtq -v ON_ERROR_STOP=1 -c "$4"
}
port_open() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
source_running() { "$PG_BIN/pg_isready" -q -h "$SOURCE_SOCKET" -p "$SOURCE_PORT" -t 3 2>/dev/null; }
# lsn_le A B: true when LSN A is at or before LSN B (compared by halves: FFFFFFFF/0 as one number overflows bash).
lsn_le() {
  local a_hi=$((16#${1%/*})) a_lo=$((16#${1#*/})) b_hi=$((16#${2%/*})) b_lo=$((16#${2#*/}))
  (( a_hi < b_hi || (a_hi == b_hi && a_lo <= b_lo) ))
}

# The backups, oldest first: label, type, stop time (epoch seconds) and stop LSN, one a line. Perl reads the JSON:
# pgBackRest's package depends on it (and its JSON module), where python or jq may be missing.
BACKUPS=$(pgbackrest_ info --output=json | perl -MJSON::PP -0777 -ne '
  print "$_->{label} $_->{type} $_->{timestamp}{stop} $_->{lsn}{stop}\n" for @{decode_json($_)->[0]{backup} // []}') \
  || die "cannot read the repository $REPO (pgBackRest info failed)"
[[ -n $BACKUPS ]] || die "no backup in $REPO (stanza $STANZA): take one with eng/backup.sh full"
read -r OLDEST_LABEL _ OLDEST_STOP OLDEST_LSN <<<"$(head -n1 <<<"$BACKUPS")"

RUNNING=""
if source_running; then RUNNING=1; fi

# The target against the backups and the clock: refused here, before anything is stopped or written.
SET=""
case $TYPE in
  time)
    if [[ -n $RUNNING ]]; then
      NOW_US=$(psql_ "$SOURCE_SOCKET" "$SOURCE_PORT" postgres "select floor(extract(epoch from clock_timestamp()) * 1000000)::bigint") \
        || die "cannot read the cluster's clock"
    else
      NOW_US=$(date +%s%6N)
    fi
    if (( TARGET_US > NOW_US )); then
      die "--time $TARGET is in the future (the database's clock says $(date -u -d "@${NOW_US:0:-6}.${NOW_US: -6}" '+%F %T.%6N+00'))"
    fi
    # A backup's recorded stop time is rounded down from a moment after it became consistent: one ending in an
    # earlier second than the target is consistent before the target.
    target_second=${TARGET_EPOCH%.*}
    while read -r label _ stop _; do
      if (( stop < target_second )); then SET=$label; fi
    done <<<"$BACKUPS"
    [[ -n $SET ]] || die "--time $TARGET is before the end of the oldest backup ($OLDEST_LABEL ended $(date -u -d "@$OLDEST_STOP" '+%F %T+00')): nothing to restore it from"
    ;;
  lsn)
    while read -r label _ _ stop_lsn; do
      if lsn_le "$stop_lsn" "$TARGET"; then SET=$label; fi
    done <<<"$BACKUPS"
    [[ -n $SET ]] || die "--lsn $TARGET is before the end of the oldest backup ($OLDEST_LABEL ended at $OLDEST_LSN): nothing to restore it from"
    if [[ -n $RUNNING ]]; then
      current=$(psql_ "$SOURCE_SOCKET" "$SOURCE_PORT" postgres "select pg_current_wal_insert_lsn()") || die "cannot read the cluster's WAL position"
      lsn_le "$TARGET" "$current" || die "--lsn $TARGET is past the end of the WAL (the cluster is at $current)"
    fi
    ;;
  latest)
    if [[ -n $IN_PLACE && -n $RUNNING ]]; then
      die "--in-place --latest while the cluster runs would lose what it writes between archiving its WAL and stopping: stop it first (the event store: eng/services.sh stop eventstore), or name a --time or --lsn"
    fi
    SET=$(tail -n1 <<<"$BACKUPS" | cut -d' ' -f1)
    ;;
esac

# Where the restored cluster goes, checked before anything changes.
if [[ -n $FORMATION ]]; then
  # Into node1, whichever node is the primary now.
  DATA=$(backup_config_value "$CONFIG" pg1-path)
  PORT=$(backup_config_value "$CONFIG" pg1-port)
  SOCKET=$(backup_config_value "$CONFIG" pg1-socket-path)
  LOG=$FORMATION/logs/restore.log
elif [[ -n $IN_PLACE ]]; then
  DATA=$SOURCE_DATA
  PORT=$SOURCE_PORT
  SOCKET=$SOURCE_SOCKET
  if [[ $DATA == "$REPO_ROOT/.local/postgres-eventstore/data" && -f $REPO_ROOT/.local/logs/postgres-eventstore.log ]]; then
    LOG=$REPO_ROOT/.local/logs/postgres-eventstore.log   # eng/services.sh's log of the event store
  else
    LOG=$(dirname "$DATA")/postgres.log
  fi
else
  if [[ -z $DIR ]]; then DIR=$REPO_ROOT/.local/restores/$STANZA-$(date -u +%Y%m%d-%H%M%S); fi
  [[ $DIR == /* ]] || DIR=$PWD/$DIR
  if [[ -e $DIR ]] && [[ -n $(ls -A "$DIR" 2>/dev/null) ]]; then die "--dir $DIR exists and is not empty"; fi
  if [[ -n $PORT ]]; then
    PORT=$((10#$PORT))
    ! port_open "$PORT" || die "--port $PORT is in use"
  else
    for candidate in $(seq 5440 5999); do
      if ! port_open "$candidate" && [[ ! -e /tmp/.s.PGSQL.$candidate.lock ]]; then PORT=$candidate; break; fi
    done
    [[ -n $PORT ]] || die "no free port between 5440 and 5999: pass --port"
  fi
  DATA=$DIR/data
  LOG=$DIR/postgres.log
  # The socket goes in DIR unless the path would be too long for a unix socket (107 bytes with its file name).
  SOCKET=$DIR
  if (( ${#SOCKET} > 80 )); then SOCKET=/tmp; fi
fi

# ------------------------------------------------------------------ restore ---
describe_target() {
  case $TYPE in
    time) echo "time $TARGET" ;;
    lsn) echo "lsn $TARGET" ;;
    latest) echo "the end of the WAL archive" ;;
  esac
}
say "restoring $(describe_target) from backup $SET${IN_PLACE:+ in place, over $DATA}"

# While the cluster runs, part of its WAL (up to the target, or its end for --latest) may not be archived yet: commit a
# transaction (recovery to a time stops at the first commit after it, so one must exist) and have the segment switched
# and archived.
if [[ -n $RUNNING ]]; then
  psql_ "$SOURCE_SOCKET" "$SOURCE_PORT" postgres "select txid_current()" >/dev/null || die "cannot write to the cluster to close the WAL up to the target"
  pgbackrest_ check >/dev/null || die "the WAL archive is not taking the cluster's WAL (pgBackRest check failed; its log is in $(backup_config_value "$CONFIG" log-path))"
fi

options=(--set="$SET" --pg1-path="$DATA")
case $TYPE in
  time|lsn) options+=(--type="$TYPE" --target="$TARGET" --target-action=promote) ;;
  latest) options+=(--type=default) ;;
esac

if [[ -n $FORMATION ]]; then
  say "stopping the formation in $FORMATION"
  "$SCRIPT_DIR/pg-formation.sh" stop "$FORMATION" "${FORMATION_PORTS[@]}" >&2 || die "cannot stop the formation in $FORMATION"
fi
if [[ -n $IN_PLACE ]]; then
  if [[ -f $DATA/postmaster.pid ]] && backup_as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    say "stopping the cluster on port $PORT"
    backup_as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null \
      || backup_as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -w -t 60 stop >/dev/null \
      || die "cannot stop the cluster in $DATA"
  elif port_open "$PORT"; then
    die "port $PORT is served by a server that is not the cluster in $DATA: stop it first"
  fi
  # A crashed server leaves its lock files behind (its pid may linger as a zombie here).
  rm -f "$DATA/postmaster.pid" "$SOCKET/.s.PGSQL.$PORT.lock" "$SOCKET/.s.PGSQL.$PORT"
  if [[ ! -d $DATA ]]; then mkdir -p "$DATA"; chmod 700 "$DATA"; [[ $EUID -ne 0 ]] || chown postgres: "$DATA"; fi
  options+=(--delta)
else
  mkdir -p "$DIR"
  if [[ $EUID -eq 0 ]]; then
    chown postgres: "$DIR"
    # The postgres user must be able to reach DIR.
    d="" ; IFS=/ read -ra parts <<<"${DIR#/}"
    for part in "${parts[@]}"; do d="$d/$part"; backup_as_pg test -x "$d" || chmod o+x "$d"; done
  fi
  # pgBackRest's restore empties the stanza's spool folder: a spool of its own, so the running cluster's asynchronous
  # archive-push keeps its acknowledgements (losing one stalls its archiving for a minute). The restore_command is
  # written out, as pgBackRest's own would carry --spool-path, which its synchronous archive-get refuses.
  options+=(--archive-mode=off --spool-path="$DIR/spool"
            --recovery-option="restore_command=$BACKUP_PGBACKREST --config=$CONFIG --stanza=$STANZA --pg1-path=$DATA archive-get %f \"%p\"")
fi

phase "checks"
mark
if ! output=$(pgbackrest_ restore "${options[@]}" 2>&1); then
  echo "$output" >&2
  die "pgBackRest restore failed${IN_PLACE:+ (the cluster is stopped)}"
fi

start_options="-p $PORT -k $SOCKET -c listen_addresses=127.0.0.1"
# A copy has no standby: a formation's synchronous_standby_names, restored with its files, would hold every commit.
if [[ -z $IN_PLACE ]]; then start_options+=" -c archive_mode=off -c synchronous_standby_names="; fi
# In place, the services reconnect as soon as the store listens, and must find it restored and with its new epoch (or
# a consumer would take the restored store, still of the old epoch, for one that went back by other means): it
# recovers on its unix socket alone, and listens on TCP once the epoch is drawn (a restart, below).
recovery_options=$start_options
if [[ -n $IN_PLACE ]]; then recovery_options="-p $PORT -k $SOCKET -c listen_addresses="; fi
# A formation's node alone: no standby to wait for until it is formed anew.
if [[ -n $FORMATION ]]; then recovery_options+=" -c synchronous_standby_names="; fi
: >>"$LOG"; [[ $EUID -ne 0 ]] || chown "$(backup_pg_user)": "$LOG"
log_from=$(( $(wc -l <"$LOG") + 1 ))
# pg_ctl -w returns once connections are accepted, which during a point-in-time recovery is before it has ended (and
# before it may fail): wait for pg_is_in_recovery() to turn false instead.
phase "files"
mark
backup_as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -o "$recovery_options" start >/dev/null \
  || die "the restored cluster did not start; see $LOG"
recovery_log() { tail -n "+$log_from" "$LOG"; }
# What is left after a failed recovery: the cluster in place stopped, or the new directory for a look at its log.
LEFT=${IN_PLACE:+; the cluster is stopped}
if [[ -n $FORMATION ]]; then LEFT="; the formation is stopped and node1 half restored: run this restore again (the same or an earlier target)"; fi
LEFT=${LEFT:-; $DIR holds the restored files and the log: remove it}
deadline=$((SECONDS + ${ER_RESTORE_TIMEOUT:-3600}))
while true; do
  state=$(psql_ "$SOCKET" "$PORT" postgres "select pg_is_in_recovery()" 2>/dev/null || true)
  [[ $state == f ]] && break
  if recovery_log | grep -q 'FATAL:  recovery ended before configured recovery target was reached'; then
    last=$(recovery_log | grep -o 'last completed transaction was at log time .*' | tail -n1 || true)
    die "the WAL archive ends before $(describe_target)${last:+ ($last)}: restore to an earlier target or --latest$LEFT. See $LOG"
  fi
  if recovery_log | grep -qE 'FATAL|PANIC' && ! backup_as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    recovery_log | grep -E 'FATAL|PANIC' >&2 || true
    die "recovery failed$LEFT. See $LOG"
  fi
  (( SECONDS < deadline )) || die "recovery has not ended after ${ER_RESTORE_TIMEOUT:-3600} s; see $LOG"
  sleep 0.3
done

phase "recovery"
# The last transaction replayed: known until the server restarts (in place it restarts below).
replayed=$(psql_ "$SOCKET" "$PORT" postgres "select coalesce(to_char(pg_last_xact_replay_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00'), 'nothing')")

# The restored store is not the one the read models and the published events knew: it gets a new epoch, by which the
# consumers notice and rebuild their read models from it (see the README, "When the event store goes back in time").
epoch=none
if [[ $(psql_ "$SOCKET" "$PORT" postgres "select count(*) from pg_database where datname = '$DATABASE'") == 1 && $(psql_ "$SOCKET" "$PORT" "$DATABASE" "select to_regclass('producer.store_epoch') is not null") == t ]]; then
  epoch=$(psql_ "$SOCKET" "$PORT" "$DATABASE" "
    update producer.store_epoch set epoch = gen_random_uuid()::text, since = now(),
           reason = 'restored to $(describe_target | sed "s/'/''/g") by eng/restore.sh'
    returning epoch")
fi
if [[ -n $FORMATION ]]; then
  # pgBackRest wrote the recovery's settings into postgresql.auto.conf, which node2's copy would take with the files:
  # recovering to the same target, it would stop there and promote itself instead of following node1.
  # And the old standby's name: pg_autoctl names node2's when it joins.
  psql_ "$SOCKET" "$PORT" postgres "alter system reset restore_command" >/dev/null
  for setting in recovery_target_time recovery_target_lsn recovery_target_action recovery_target_timeline synchronous_standby_names; do
    psql_ "$SOCKET" "$PORT" postgres "alter system reset $setting" >/dev/null
  done
  backup_as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 120 stop >/dev/null || die "the restored node1 did not stop; see $LOG"
  mark
  "$SCRIPT_DIR/pg-formation.sh" reform "$FORMATION" "${FORMATION_PORTS[@]}" >&2 \
    || die "the formation was not formed again around the restored node1; see $FORMATION/logs"
  phase "formation"
elif [[ -n $IN_PLACE ]]; then
  backup_as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 120 -o "$start_options" restart >/dev/null \
    || die "the restored cluster did not start listening again; see $LOG"
fi

# ------------------------------------------------------------------ summary ---
mark
exists=$(psql_ "$SOCKET" "$PORT" postgres "select count(*) from pg_database where datname = '$DATABASE'")
position=0 events=0 checksum=$(echo -n | md5sum | cut -d' ' -f1)
if [[ $exists != 1 ]]; then
  position="none (no database $DATABASE)" checksum=none
elif [[ $(psql_ "$SOCKET" "$PORT" "$DATABASE" "select to_regclass('producer.mt_events') is not null") == t ]]; then
  read -r position events checksum < <(psql_ "$SOCKET" "$PORT" "$DATABASE" "
    select coalesce(max(seq_id), 0), count(*),
           md5(coalesce(string_agg(md5(concat_ws('|', seq_id, stream_id, version, type, data::text)), '' order by seq_id), ''))
      from producer.mt_events" | tr '|' ' ')
fi
phase "summary"
ms=$(( ($(date +%s%N) - STARTED_NS) / 1000000 ))

printf 'target:   %s\n' "$(describe_target)"
printf 'backup:   %s\n' "$SET"
printf 'data:     %s\n' "$DATA"
printf 'port:     %s\n' "$PORT"
printf 'database: %s\n' "$DATABASE"
printf 'position: %s\n' "$position"
printf 'events:   %s\n' "$events"
printf 'checksum: %s\n' "$checksum"
printf 'epoch:    %s\n' "$epoch"
printf 'replayed: %s\n' "$replayed"
printf 'took:     %d.%01d s (%s)\n' $((ms / 1000)) $(((ms % 1000) / 100)) "$(IFS=,; echo "${PHASES[*]}" | sed 's/,/, /g')"
