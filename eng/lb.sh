#!/usr/bin/env bash
# eng/lb.sh start DIR PORT BACKEND... | run DIR PORT BACKEND... | stop DIR
#
# HAProxy (Debian package) as the load balancer in front of the API gateways: listens on 127.0.0.1:PORT,
# round-robins over the BACKEND host:port pairs, checks each gateway's /health/live every second and takes a
# gateway out after two failed checks. Only connection failures are retried (on another gateway): a request
# that reached a gateway is never sent twice, so a command cannot be applied twice by the balancer.
# Config, pid file and error pages are written to DIR.
# start runs HAProxy as a daemon and returns once it listens; run keeps it in the foreground (no pid file), for
# eng/supervise.sh to restart it when it dies; stop ends a daemon that start began.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
usage="usage: $0 start|run DIR PORT BACKEND... | stop DIR"
action=${1:?$usage}
dir=${2:?$usage}

stop() {
  if [[ -f "$dir/haproxy.pid" ]]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$dir/haproxy.pid"
    rm -f "$dir/haproxy.pid"
  fi
}

write_config() {  # write_config daemon|foreground PORT BACKEND...
  local mode=$1 port=$2
  shift 2
  (( $# > 0 )) || { echo "lb: no backends given" >&2; exit 2; }
  command -v haproxy >/dev/null || { echo "lb: haproxy is not installed; run eng/services.sh start" >&2; exit 1; }
  mkdir -p "$dir"
  for code in 502 503 504; do cp "$ROOT/eng/haproxy/$code.http" "$dir/$code.http"; done
  {
    echo "global"
    if [[ $mode == daemon ]]; then
      echo "    daemon"
      echo "    pidfile $dir/haproxy.pid"
    fi
    # A request head up to 64 KiB and 200 header lines reaches the gateways, whose own limits then answer as documented
    # (a request line over 8 KiB is a 414; headers over 32 KiB or 100 lines a 431); with the defaults (16 KiB, 101 lines)
    # HAProxy refused a head over about 15 KiB with a bare 400. Larger buffers cost memory per connection, so fewer
    # connections (HAProxy's advice).
    cat <<CFG
    tune.bufsize 65536
    tune.http.maxhdr 200
    maxconn 1024

defaults
    mode http
    option forwardfor
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    # How long a client's connection may idle between requests. Left unset it is http-request's 10 s, and a client that
    # keeps connections longer (.NET's pool keeps them 60 s, browsers longer) can send a request just as HAProxy closes
    # the connection: the client sees the response end unanswered, and a POST is not retried. Longer than .NET's 60 s,
    # so such a client lets go of the connection first.
    timeout http-keep-alive 75s
    retries 2
    retry-on conn-failure
    option redispatch
    errorfile 502 $dir/502.http
    errorfile 503 $dir/503.http
    errorfile 504 $dir/504.http

frontend api
    bind 127.0.0.1:$port
    # The gateways believe this hop alone: the scheme is ours, and the client is the X-Forwarded-For we add last.
    http-request set-header X-Forwarded-Proto http
    default_backend gateways

backend gateways
    balance roundrobin
    option httpchk GET /health/live
    http-check expect status 200
    default-server inter 1s fastinter 500ms fall 2 rise 1
CFG
    local n=0 backend
    for backend in "$@"; do
      n=$((n + 1))
      echo "    server gateway$n $backend check"
    done
  } >"$dir/haproxy.cfg"
  haproxy -q -c -f "$dir/haproxy.cfg"
}

case "$action" in
  start)
    port=${3:?$usage}
    shift 3
    write_config daemon "$port" "$@"
    stop
    haproxy -f "$dir/haproxy.cfg"
    for _ in $(seq 1 50); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then exit 0; fi
      sleep 0.1
    done
    echo "lb: haproxy did not start listening on 127.0.0.1:$port" >&2
    exit 1
    ;;
  run)
    port=${3:?$usage}
    shift 3
    write_config foreground "$port" "$@"
    stop
    # -db: stay in the foreground, so whoever started us sees HAProxy exit; SIGTERM stops it.
    exec haproxy -db -f "$dir/haproxy.cfg"
    ;;
  stop)
    stop
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
