#!/usr/bin/env bash
# Sourced by eng/services.sh, eng/rabbitmq-instance.sh and eng/run.sh: the broker users of the services, each with its own
# password (made once into .local/secrets/rabbitmq/, mode 0600) and permissions on the exchanges and queues it uses.
#
#   broker_definitions VHOST...   prints RabbitMQ definitions (users, vhosts, permissions on each VHOST) to import
#   broker_url USER HOST:PORT [VHOST]   prints the amqp:// URL of USER (its password made if missing)
#   broker_url_file USER HOST:PORT [VHOST]  writes that URL to .local/secrets/rabbitmq/USER.url (0600) and prints the file's
#                                       path: a service reads it (ConnectionStrings__rabbitmq_FILE), so the password is
#                                       in no process's arguments or environment
#
# Permissions are regular expressions over exchange and queue names (RabbitMQ does not tell the two apart):
# configure = declare or delete, write = publish to an exchange or bind a queue, read = consume a queue or bind from an
# exchange. Creating a queue with a dead-letter exchange also wants read on it, so each queue is declared by its own
# consumer. Publishing through the default exchange (amq.default) reaches any queue; only services that send to
# queues have it, and what a queue takes is checked by the AMQP user_id at its consumer (live events from the producer,
# batches and cut-overs from the replay service). The operator user may publish to the replay.commands exchange only.
# Keep the consumers' names in step with Topology.Consumers (BrokerPermissionTests runs every service with these).

source "$(dirname "${BASH_SOURCE[0]}")/secrets.sh"
BROKER_SECRETS="$SECRETS_DIR/rabbitmq"
BROKER_CONSUMERS=(balances statistics)

# user configure write read [tags], one user a line
broker_user_table() {
  local consumers c
  consumers=$(IFS='|'; echo "${BROKER_CONSUMERS[*]}")
  echo "er-producer ^(events|monitoring\\.heartbeats)\$ ^(events|monitoring\\.heartbeats)\$ ^\$"
  for c in "${BROKER_CONSUMERS[@]}"; do
    echo "er-$c ^(events|$c\\.(live|replay|dead)|monitoring\\.(heartbeats|outcomes))\$ ^(amq\\.default|$c\\.live|monitoring\\.(heartbeats|outcomes))\$ ^(events|$c\\.(live|replay))\$"
  done
  echo "er-replay ^(replay\\.(commands|acks|dead|events)|monitoring\\.heartbeats)\$ ^(amq\\.default|replay\\.(commands|acks|events)|monitoring\\.heartbeats)\$ ^replay\\.(commands|acks)\$"
  echo "er-monitor ^(monitor\\..*|monitoring\\.(heartbeats|outcomes)|replay\\.(events|dead)|($consumers)\\.dead)\$ ^(amq\\.default|monitor\\..*|monitoring\\.(heartbeats|outcomes))\$ ^(monitor\\..*|monitoring\\.(heartbeats|outcomes)|replay\\.(events|dead)|($consumers)\\.dead)\$ monitoring"
  echo "er-gateway ^monitoring\\.heartbeats\$ ^monitoring\\.heartbeats\$ ^\$"
  echo "er-operator ^\$ ^replay\\.commands\$ ^\$ management"
  # An administrator for people, where no other tool makes one (docker-compose.yml's broker: eng/compose-secrets.sh).
  if [[ -n ${BROKER_ADMIN:-} ]]; then echo "$BROKER_ADMIN .* .* .* administrator"; fi
}

# The password of USER (eng/secrets.sh: made once; hex, so it needs no escaping in a URL or a connection string).
broker_password() { secret "rabbitmq/$1"; }

# RabbitMQ's default password hash (rabbit_password_hashing_sha256): base64(salt ++ sha256(salt ++ password)).
broker_hash() {
  # The password goes in the environment, which only its owner can read, not in the arguments, which anyone can.
  BROKER_PASSWORD=$1 perl -MDigest::SHA=sha256 -MMIME::Base64 -e \
    'my $salt = pack("N", int(rand(4294967295))); print encode_base64($salt . sha256($salt . $ENV{BROKER_PASSWORD}), "")'
}

# A vhost given after --tests is the tests' own: there the producer's user may also publish through the default exchange,
# so that a test can put a message the producer sent into one live queue (the events exchange feeds them all). Services
# check user_id the same everywhere; production vhosts grant exactly the table above.
broker_definitions() {  # broker_definitions VHOST... [--tests VHOST...]
  local vhosts=() tests=() user configure write read tags vhost first=1 arg into=vhosts
  for arg in "$@"; do
    if [[ $arg == --tests ]]; then into=tests; continue; fi
    if [[ $into == vhosts ]]; then vhosts+=("$arg"); else tests+=("$arg"); fi
  done
  vhosts+=("${tests[@]}")
  printf '{"vhosts":['
  for vhost in "${vhosts[@]}"; do
    (( first )) || printf ','; first=0
    printf '{"name":"%s"}' "$vhost"
  done
  printf '],"users":['
  first=1
  while read -r user configure write read tags; do
    (( first )) || printf ','; first=0
    printf '{"name":"%s","password_hash":"%s","hashing_algorithm":"rabbit_password_hashing_sha256","tags":"%s"}' \
      "$user" "$(broker_hash "$(broker_password "$user")")" "$tags"
  done < <(broker_user_table)
  printf '],"permissions":['
  first=1
  while read -r user configure write read tags; do
    for vhost in "${vhosts[@]}"; do
      (( first )) || printf ','; first=0
      local granted=$write
      if [[ $user == er-producer && " ${tests[*]} " == *" $vhost "* ]]; then granted="^(amq\\.default|${write#^(}"; fi
      printf '{"user":"%s","vhost":"%s","configure":"%s","write":"%s","read":"%s"}' "$user" "$vhost" \
        "${configure//\\/\\\\}" "${granted//\\/\\\\}" "${read//\\/\\\\}"
    done
  done < <(broker_user_table)
  printf ']}\n'
}

broker_url() {  # broker_url USER HOST:PORT [VHOST]
  local vhost=${3:-}
  echo "amqp://$1:$(broker_password "$1")@$2/${vhost//\//%2F}"
}

broker_url_file() {  # broker_url_file USER HOST:PORT [VHOST]
  local file="$BROKER_SECRETS/$1.url" url
  url=$(broker_url "$1" "$2" "${3:-}")
  (umask 077; printf '%s\n' "$url" >"$file.tmp") && mv "$file.tmp" "$file"
  echo "$file"
}
