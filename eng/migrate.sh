#!/usr/bin/env bash
# eng/migrate.sh [--database NAME] [--configuration Release|Debug]
#
# Applies the system's schema changes as the owner role (eventreplay), in a step of their own: each service that keeps
# tables is run once with the argument `migrate` over the owner's connections (the producer: the event store's tables,
# Marten's and the publisher's; the replay service: its sagas, Wolverine's inbox, outbox and node tables, the audit
# trail; the monitor: its tables and the audit trail), which creates or updates what is missing and exits; then each
# service's own role is granted what it uses (eng/db/grants-*.sql). The services then run as those roles
# (er_producer, er_balances, er_statistics, er_replay, er_monitor), which may read and write rows and change nothing
# else; the consumers make and own their read models' schemas (a rebuild replaces them). eng/run.sh runs it before the
# services start; run it again after an upgrade, before the new services start.
#
#   --database NAME        the database in both PostgreSQL clusters (default eventreplay; the tests use their own)
#   --configuration NAME   the build whose services run (default Release, as eng/run.sh builds; built if missing)
# Ports and the highly available event store as eng/services.sh has them (ER_PG_EVENTSTORE_PORT, ER_PG_PORT,
# ER_EVENTSTORE_HA, ER_PG_HA_PORT); passwords from .local/secrets/pgpass (eng/secrets.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
source eng/secrets.sh
DATABASE=eventreplay
CONFIGURATION=Release
while (( $# > 0 )); do
  case $1 in
    --database) DATABASE=${2:?--database NAME}; shift 2 ;;
    --configuration) CONFIGURATION=${2:?--configuration Release|Debug}; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: eng/migrate.sh [--database NAME] [--configuration Release|Debug]" >&2; exit 2 ;;
  esac
done
[[ $DATABASE =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "migrate: a database name is [a-z_][a-z0-9_]*" >&2; exit 2; }

PGPASSFILE=$(secret_pgpass)
export PGPASSFILE
OWNER=$SECRET_PG_OWNER
READMODELS="Host=127.0.0.1;Port=${ER_PG_PORT:-5432}"
READMODELS_PSQL="host=127.0.0.1 port=${ER_PG_PORT:-5432}"
if [[ ${ER_EVENTSTORE_HA:-0} == 1 ]]; then
  ha_port=${ER_PG_HA_PORT:-5440}
  EVENTSTORE="Host=127.0.0.1:$((ha_port + 1)),127.0.0.1:$((ha_port + 2));Target Session Attributes=primary"
  EVENTSTORE_PSQL="host=127.0.0.1,127.0.0.1 port=$((ha_port + 1)),$((ha_port + 2)) target_session_attrs=read-write"
else
  EVENTSTORE="Host=127.0.0.1;Port=${ER_PG_EVENTSTORE_PORT:-5433}"
  EVENTSTORE_PSQL="host=127.0.0.1 port=${ER_PG_EVENTSTORE_PORT:-5433}"
fi
OPTIONS="Database=$DATABASE;Username=$OWNER;Timeout=5;Command Timeout=60"

say() { echo "migrate: $*"; }

dll() {  # dll FOLDER/PROJECT: the built service, built first if missing
  local path=$1 file
  file="$ROOT/$path/bin/$CONFIGURATION/net10.0/$(basename "$path").dll"
  if [[ ! -f $file ]]; then
    dotnet build "$path" -c "$CONFIGURATION" -nologo -v:q -clp:ErrorsOnly >/dev/null
  fi
  echo "$file"
}

migrate() {  # migrate FOLDER/PROJECT: the service's schema step, as the owner
  local path=$1 file
  file=$(dll "$path")
  # It builds as it would to run (its settings are checked), but opens no listener, queue or connection beyond the
  # owner's to PostgreSQL: the argument `migrate` applies the schema and exits.
  if ! (cd "$(dirname "$file")" && env ConnectionStrings__eventstore="$EVENTSTORE;$OPTIONS" \
        ConnectionStrings__readmodels="$READMODELS;$OPTIONS" \
        Auth__SigningKeyFile="${Auth__SigningKeyFile:-$SECRETS_DIR/token-signing.pub.pem}" \
        Logging__LogLevel__Default=Warning dotnet "$file" migrate); then
    echo "migrate: $(basename "$path") failed to apply its schema" >&2
    exit 1
  fi
  say "$(basename "$path"): schema applied"
}

grants() {  # grants CONNINFO FILE
  psql "$1 dbname=$DATABASE user=$OWNER" -XqAt -v ON_ERROR_STOP=1 -f "$2" >/dev/null
}

secret_signing_key >/dev/null
migrate Endpoints/EventReplay.Producer
migrate Endpoints/EventReplay.Replay
migrate Endpoints/EventReplay.Monitor
grants "$EVENTSTORE_PSQL" eng/db/grants-eventstore.sql
grants "$READMODELS_PSQL" eng/db/grants-readmodels.sql
say "grants applied: each service's role (${SECRET_PG_SERVICE_ROLES[*]}) on database $DATABASE"
