#!/usr/bin/env bash
# Sourced by the eng/ scripts: the local system's passwords. Each is made once, at random, into .local/secrets/
# (git-ignored; folders 0700, files 0600) and read from there ever after: no password is in a committed file.
#
#   secret NAME       prints the password NAME (postgres/eventreplay, rabbitmq/er-producer, redis/er-balances, ...),
#                     making it first if missing: 48 hex digits, so it needs no escaping in a URL, a connection string,
#                     a pgpass line or a Redis ACL rule
#   secret_signing_key  makes the local token signing key once (ECDSA P-256): token-signing.pem, the private half for
#                     whoever mints tokens (eng/eventreplay token, the tests), 0600; token-signing.pub.pem, the public
#                     half for the services (Auth__SigningKeyFile)
#   secret_redis_acl FILE   writes Redis's ACL file: no default user; the administrator eventreplay (people, scripts,
#                     the tests' harness) with every right; each consumer its own user, limited to its own keys
#                     (balances:*, statistics:*), no channels, no administrative or dangerous commands. Passwords are
#                     kept as SHA-256 hashes only, so the file may be read by the Redis server's user (0644).
#   secret_redis_connection USER HOST:PORT [DB]  writes USER's StackExchange.Redis connection string (with its password)
#                     to .local/secrets/redis/USER.conn (0600) and prints the path: ConnectionStrings__redis_FILE
#   secret_pg_roles_sql   prints the SQL (for a superuser) that makes the services' login roles, with their passwords,
#                     and lets the owner role act for them (to set what the tables they make grant others)
#   secret_pgpass     writes .local/secrets/pgpass (0600), the PostgreSQL password file of the local roles, and prints
#                     its path: PGPASSFILE for psql and Npgsql, so connection strings name a role but no password

SECRETS_DIR="${SECRETS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)/.local/secrets}"

# The PostgreSQL roles of the local system, one per pgpass line: the owner (eventreplay: owns the databases and every
# table, applies the migrations, eng/migrate.sh) and each service's own login role (data privileges only).
SECRET_PG_OWNER=eventreplay
SECRET_PG_SERVICE_ROLES=(er_producer er_balances er_statistics er_replay er_monitor)
SECRET_PG_ROLES=("$SECRET_PG_OWNER" "${SECRET_PG_SERVICE_ROLES[@]}")

# The Redis users of the services: user:key prefix (keep in step with the consumers' cache keys).
SECRET_REDIS_USERS=(er-balances:balances er-statistics:statistics)

secret() {  # secret NAME
  local file="$SECRETS_DIR/$1"
  if [[ ! -s $file ]]; then
    command -v openssl >/dev/null 2>&1 || { echo "secrets: openssl is missing: it makes the local passwords (apt-get install openssl)" >&2; return 1; }
    mkdir -p "$(dirname "$file")"
    chmod 700 "$SECRETS_DIR" "$(dirname "$file")"
    (umask 077; openssl rand -hex 24 >"$file.tmp") && mv "$file.tmp" "$file"
  fi
  cat "$file"
}

secret_pgpass() {
  local file="$SECRETS_DIR/pgpass" role lines=""
  for role in "${SECRET_PG_ROLES[@]}"; do
    lines+="*:*:*:$role:$(secret "postgres/$role")"$'\n'
  done
  if [[ ! -s $file || $(cat "$file") != "${lines%$'\n'}" ]]; then
    (umask 077; printf '%s' "$lines" >"$file.tmp") && mv "$file.tmp" "$file"
  fi
  echo "$file"
}

secret_signing_key() {
  [[ -s "$SECRETS_DIR/token-signing.pem" && -s "$SECRETS_DIR/token-signing.pub.pem" ]] && return 0
  command -v openssl >/dev/null 2>&1 || { echo "secrets: openssl is missing: it makes the local token signing key (apt-get install openssl)" >&2; return 1; }
  mkdir -p "$SECRETS_DIR"
  chmod 700 "$SECRETS_DIR"
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$SECRETS_DIR/token-signing.pem.tmp" 2>/dev/null)
  openssl pkey -in "$SECRETS_DIR/token-signing.pem.tmp" -pubout -out "$SECRETS_DIR/token-signing.pub.pem" 2>/dev/null
  chmod 644 "$SECRETS_DIR/token-signing.pub.pem"
  mv "$SECRETS_DIR/token-signing.pem.tmp" "$SECRETS_DIR/token-signing.pem"
  echo "secrets: made the local token signing key (${SECRETS_DIR}/token-signing.pem, .pub.pem)"
}

secret_redis_acl() {  # secret_redis_acl FILE
  local file=$1 entry user
  {
    echo "user default off resetkeys resetchannels -@all"
    echo "user eventreplay on #$(secret_redis_hash eventreplay) ~* &* +@all"
    for entry in "${SECRET_REDIS_USERS[@]}"; do
      user=${entry%%:*}
      echo "user $user on #$(secret_redis_hash "$user") resetkeys ~${entry#*:}:* resetchannels -@all +@all -@admin -@dangerous +info"
    done
  } >"$file.tmp"
  chmod 644 "$file.tmp"
  mv "$file.tmp" "$file"
}

# The SHA-256 of USER's Redis password, as an ACL rule names it (#HEX).
secret_redis_hash() {  # secret_redis_hash USER
  local digest
  digest=$(printf '%s' "$(secret "redis/$1")" | sha256sum)
  echo "${digest%% *}"
}

secret_redis_connection() {  # secret_redis_connection USER HOST:PORT [DB]
  local file="$SECRETS_DIR/redis/$1.conn"
  local connection="$2,user=$1,password=$(secret "redis/$1"),defaultDatabase=${3:-0}"
  (umask 077; printf '%s\n' "$connection" >"$file.tmp") && mv "$file.tmp" "$file"
  echo "$file"
}

secret_pg_roles_sql() {
  local role
  for role in "${SECRET_PG_SERVICE_ROLES[@]}"; do
    printf "do \$\$begin if not exists (select from pg_roles where rolname = '%s') then create role %s login; end if; end\$\$;\n" "$role" "$role"
    echo "alter role $role login password '$(secret "postgres/$role")';"
    printf "grant %s to %s;\n" "$role" "$SECRET_PG_OWNER"
  done
}
