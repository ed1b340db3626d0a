#!/usr/bin/env bash
# eng/compose-secrets.sh: writes the secrets docker-compose.yml reads, under .local/secrets/ (git-ignored, 0600), from the
# same passwords eng/services.sh uses (eng/secrets.sh makes any that are missing) and the local token signing key:
#   compose/pgpass                   the services' PostgreSQL password file (PGPASSFILE)
#   compose/rabbitmq-definitions.json  the broker's users (the services' own, eng/broker-users.sh, and the administrator
#                                    eventreplay), their permissions on vhost /, loaded at the broker's first boot
#   compose/amqp-USER.url            each service's broker URL (ConnectionStrings__rabbitmq_FILE)
#   compose/redis.acl                Redis's users (eng/secrets.sh: hashes only, so 0644 for the redis container's user)
#   compose/redis-USER.conn          each consumer's Redis connection string (ConnectionStrings__redis_FILE)
# Run it before `docker compose up`; again after a password changed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
source eng/secrets.sh
source eng/broker-users.sh

out="$SECRETS_DIR/compose"
mkdir -p "$out"
chmod 700 "$SECRETS_DIR" "$out"
write() {  # write NAME: standard input into $out/NAME, 0600
  (umask 077; cat >"$out/$1.tmp") && mv "$out/$1.tmp" "$out/$1"
}

printf '*:*:*:eventreplay:%s\n' "$(secret postgres/eventreplay)" | write pgpass
BROKER_ADMIN=eventreplay broker_definitions / | write rabbitmq-definitions.json
for user in er-producer er-balances er-statistics er-replay er-monitor er-gateway; do
  broker_url "$user" rabbitmq:5672 | write "amqp-$user.url"
done
secret_redis_acl "$out/redis.acl"
for entry in "${SECRET_REDIS_USERS[@]}"; do
  user=${entry%%:*}
  echo "redis:6379,user=$user,password=$(secret "redis/$user")" | write "redis-$user.conn"
done
secret_signing_key
echo "compose-secrets: written to ${out#"$ROOT"/}"
