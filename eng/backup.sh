#!/usr/bin/env bash
# eng/backup.sh full|diff|info [--json] [--config FILE] [--stanza NAME]
#
# Backups of the event store's PostgreSQL cluster with pgBackRest. eng/services.sh runs that cluster with its WAL
# archived into the repository (.local/backups), so together with these backups it can be restored to any moment
# since the oldest kept full backup (eng/restore.sh).
#   full   a full backup: the whole cluster, taken while it keeps serving (commands keep flowing)
#   diff   a differential backup: the files changed since the last full one (a full one if there is none yet)
#   info   the backups kept, the WAL archive's range and the repository's size (--json: pgBackRest's JSON)
# A backup prints its label, type, duration and sizes. Two full backups are kept (with their differentials and the
# WAL they need); a third full backup expires the oldest.
#
# --config FILE  (or ER_BACKUP_CONFIG) the pgBackRest configuration naming the cluster and repository; default
#                .local/pgbackrest/pgbackrest.conf, written by eng/services.sh. eng/postgres-instance.sh --archive writes
#                one for a throwaway server (DIR/pgbackrest/pgbackrest.conf). With ER_EVENTSTORE_HA=1: the formation's,
#                .local/eventstore-ha/pgbackrest/pgbackrest.conf (whichever node is the primary is backed up).
# --stanza NAME  (or ER_BACKUP_STANZA) the stanza; default eventstore (eventstore-ha with ER_EVENTSTORE_HA=1).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd -P)
source "$SCRIPT_DIR/backup/lib.sh"

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}
die() { echo "backup: ERROR: $*" >&2; exit 1; }
bad_usage() { echo "backup: $*" >&2; echo "usage: $0 full|diff|info [--json] [--config FILE] [--stanza NAME] (--help)" >&2; exit 2; }

read -r CONFIG STANZA <<<"$(backup_event_store "$REPO_ROOT")"
ACTION="" JSON=""
while (( $# )); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    full|diff|info) [[ -z $ACTION ]] || bad_usage "one action only (got $ACTION and $1)"; ACTION=$1 ;;
    --json) JSON=1 ;;
    --config) (( $# >= 2 )) || bad_usage "--config needs a file"; CONFIG=$2; shift ;;
    --config=*) CONFIG=${1#*=} ;;
    --stanza) (( $# >= 2 )) || bad_usage "--stanza needs a name"; STANZA=$2; shift ;;
    --stanza=*) STANZA=${1#*=} ;;
    *) bad_usage "unknown argument '$1'" ;;
  esac
  shift
done
[[ -n $ACTION ]] || bad_usage "name an action: full, diff or info"
[[ -z $JSON || $ACTION == info ]] || bad_usage "--json goes with info"
[[ $STANZA =~ ^[A-Za-z0-9_-]+$ ]] || bad_usage "--stanza '$STANZA' is not a stanza name (letters, digits, _ and -)"
[[ -f $CONFIG ]] || die "no pgBackRest configuration at $CONFIG: eng/services.sh start eventstore writes it (or pass --config)"
grep -q "^\[$STANZA\]" "$CONFIG" || die "$CONFIG has no stanza [$STANZA]"
REPO=$(backup_config_value "$CONFIG" repo1-path) || die "$CONFIG names no repository (repo1-path)"
backup_stanza_exists "$CONFIG" "$STANZA" \
  || die "the repository $REPO has no stanza '$STANZA' yet: it is created when the cluster starts (eng/services.sh start eventstore)"

pgbackrest_() { backup_as_pg "$BACKUP_PGBACKREST" --config="$CONFIG" --stanza="$STANZA" "$@"; }
info_json() { pgbackrest_ info --output=json; }

# The newest backup's label, type, size, size stored and stop LSN. Perl reads the JSON: pgBackRest's package depends on
# it (and its JSON module), where python or jq may be missing.
newest() {
  info_json | perl -MJSON::PP -0777 -ne 'my $n = decode_json($_)->[0]{backup}[-1];
    print "$n->{label} $n->{type} $n->{info}{size} $n->{info}{repository}{delta} $n->{lsn}{stop}\n"'
}

human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }

case $ACTION in
  info)
    if [[ -n $JSON ]]; then info_json; exit 0; fi
    pgbackrest_ info
    echo "repository: $REPO ($(human "$(du -sb "$REPO" | cut -f1)") on disk)"
    ;;
  full|diff)
    start=$(date +%s%N)
    if ! output=$(pgbackrest_ backup --type="$ACTION" 2>&1); then
      echo "$output" >&2
      if grep -q 'archive_mode' <<<"$output"; then
        die "the cluster runs without WAL archiving; it takes effect at its next start (eng/services.sh stop eventstore, then start eventstore)"
      fi
      die "pgBackRest backup failed (its log: $(backup_config_value "$CONFIG" log-path)/$STANZA-backup.log)"
    fi
    # pgBackRest warns when it turns a diff into a full backup (no full one yet): pass its warnings on.
    if [[ -n $output ]]; then echo "$output" >&2; fi
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    read -r label type size stored stop_lsn < <(newest)
    printf 'label:      %s\n' "$label"
    printf 'type:       %s\n' "$type"
    printf 'took:       %d.%01d s\n' $((ms / 1000)) $(((ms % 1000) / 100))
    printf 'database:   %s\n' "$(human "$size")"
    printf 'stored:     %s (this backup, compressed)\n' "$(human "$stored")"
    printf 'repository: %s (%s on disk)\n' "$REPO" "$(human "$(du -sb "$REPO" | cut -f1)")"
    printf 'lsn:        %s (where it ends)\n' "$stop_lsn"
    ;;
esac
