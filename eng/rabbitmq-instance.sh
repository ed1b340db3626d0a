#!/usr/bin/env bash
# eng/rabbitmq-instance.sh start|stop|kill|alarms DIR PORT
# eng/rabbitmq-instance.sh ctl DIR PORT COMMAND [ARGS...]
#
# A RabbitMQ node of a test's own (loopback AMQP on PORT, no management plugin, administrator user
# `eventreplay` with the shared broker's administrator password (eng/secrets.sh) and the services' own users of eng/broker-users.sh, data in DIR), so a test can stop, kill and restart the broker without touching the shared one.
# Durable queues and persistent messages survive a stop and start.
#   kill    SIGKILL of the node's Erlang VM (beam.smp), like a crash: no shutdown, connections drop
#   alarms  prints the node's resource alarms (memory, disk), one a line, or that there are none
#   ctl     runs rabbitmqctl against the node, e.g. `ctl DIR PORT set_vm_memory_high_watermark absolute 10MB`
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

usage="usage: $0 start|stop|kill|alarms DIR PORT, or $0 ctl DIR PORT COMMAND [ARGS...]"
action=${1:?$usage}
dir=${2:?$usage}
port=${3:?$usage}
shift 3
bin=/usr/lib/rabbitmq/bin
node="er-test-$port@localhost"

export HOME="$dir/home"
export RABBITMQ_NODENAME="$node"
export RABBITMQ_MNESIA_BASE="$dir/mnesia"
export RABBITMQ_LOG_BASE="$dir/log"
export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
export RABBITMQ_DIST_PORT=$((port + 20000))
export ERL_EPMD_ADDRESS=127.0.0.1
export ERL_CRASH_DUMP="$dir/log/erl_crash.dump"
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

case "$action" in
  start)
    mkdir -p "$HOME" "$dir/mnesia" "$dir/log"
    if [[ ! -f "$HOME/.erlang.cookie" ]]; then
      head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$HOME/.erlang.cookie"
      chmod 400 "$HOME/.erlang.cookie"
    fi
    echo "[]." >"$RABBITMQ_ENABLED_PLUGINS_FILE"
    : >"$RABBITMQ_CONF_ENV_FILE"
    source "$(dirname "${BASH_SOURCE[0]}")/broker-users.sh"
    (umask 077; cat >"$RABBITMQ_CONFIG_FILE") <<CONF
listeners.tcp.default = 127.0.0.1:$port
loopback_users = none
default_user = eventreplay
default_pass = $(broker_password eventreplay)
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
CONF
    (cd "$dir" && exec nohup setsid "$bin/rabbitmq-server" </dev/null >>"$dir/log/stdout.log" 2>&1) &
    # The node registers with epmd a few seconds after launch; await_startup needs it registered.
    for _ in $(seq 1 120); do
      "$bin/rabbitmqctl" -n "$node" -q ping >/dev/null 2>&1 && break
      sleep 0.5
    done
    "$bin/rabbitmqctl" -n "$node" -q await_startup --timeout 60 >/dev/null
    # The services' own users and permissions, as on the shared broker (eng/broker-users.sh).
    broker_definitions --tests / >"$dir/definitions.json"
    "$bin/rabbitmqctl" -n "$node" -q import_definitions "$dir/definitions.json" >/dev/null
    rm -f "$dir/definitions.json"
    ;;
  stop)
    "$bin/rabbitmqctl" -n "$node" -q stop >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || exit 0
      sleep 0.1
    done
    ;;
  kill)
    pid=$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)
    # Only the node's own VM: a stale pid file must not kill whatever took the number since.
    if [[ -n $pid && $(ps -o comm= -p "$pid" 2>/dev/null) == beam.smp ]]; then
      kill -KILL "$pid"
      # Dead once gone or a zombie.
      while [[ $(ps -o stat= -p "$pid" 2>/dev/null) == [^Z]* ]]; do sleep 0.1; done
    fi
    ;;
  alarms)
    "$bin/rabbitmq-diagnostics" -n "$node" -q alarms
    ;;
  ctl)
    "$bin/rabbitmqctl" -n "$node" -q "$@"
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
