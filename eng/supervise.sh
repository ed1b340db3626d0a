#!/usr/bin/env bash
# eng/supervise.sh NAME -- COMMAND [ARG...]
#
# Runs COMMAND and starts it again whenever it exits or is killed, until this script gets SIGTERM, SIGINT or SIGHUP.
# Waits 1 s before the first restart, doubling up to 30 s while the command keeps failing. Each restart is one line:
#   supervise: balances exited (signal KILL) after 12 s; restart 1 in 1 s
# on standard error, or on file descriptor $SUPERVISE_LOG_FD when set (so a caller can keep these lines apart from
# the command's output, which goes where this script's goes); the line starts with $SUPERVISE_TAG (default supervise).
# On SIGTERM, SIGINT or SIGHUP it sends the command SIGTERM, waits up to $SUPERVISE_STOP_SECONDS (default 30) for it,
# then SIGKILL, never restarts it, and exits 0. The command gets SIGTERM if this script dies without that (kill -9).
set -uo pipefail

name=${1:?usage: $0 NAME -- COMMAND [ARG...]}
shift
[[ ${1:-} == -- ]] && shift
(( $# > 0 )) || { echo "usage: $0 NAME -- COMMAND [ARG...]" >&2; exit 2; }
tag=${SUPERVISE_TAG:-supervise}
log_fd=${SUPERVISE_LOG_FD:-2}
stop_seconds=${SUPERVISE_STOP_SECONDS:-30}

first_delay=1
max_delay=30
# A run this long was healthy: the next restart waits 1 s again. Longer than a service takes to start and to fail at
# start (a connection refused at boot shows within seconds), so a process that keeps dying on its way up backs off.
healthy_seconds=60

child=""
sleeper=""
stopping=false

log() { echo "$tag: $name $*" >&"$log_fd"; }

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

stop() {
  stopping=true
  [[ -n $child ]] && kill -TERM "$child" 2>/dev/null
  [[ -n $sleeper ]] && kill -TERM "$sleeper" 2>/dev/null
  return 0
}
trap stop TERM INT HUP

running() {  # running PID: alive and not a zombie waiting to be reaped
  local line rest
  line=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${line##*) }
  [[ ${rest%% *} != Z ]]
}

# After a stop request: give the command $stop_seconds to end, then kill it, and reap it either way.
finish_child() {
  local deadline=$((SECONDS + stop_seconds))
  kill -TERM "$child" 2>/dev/null
  while running "$child" && (( SECONDS < deadline )); do sleep 0.1; done
  if running "$child"; then
    log "did not stop within $stop_seconds s; killing it"
    kill -KILL "$child" 2>/dev/null
  fi
  wait "$child" 2>/dev/null
  child=""
}

# What ended the command, from the shell's status: a shell reports death by signal N as 128+N, so a command that
# exits with such a code on its own reads as that signal.
describe() {
  local status=$1 signal
  if (( status > 128 )) && signal=$(kill -l "$((status - 128))" 2>/dev/null); then
    echo "signal $signal"
  else
    echo "code $status"
  fi
}

delay=$first_delay
restarts=0
while :; do
  started=$(now_ms)
  # The command runs without our log descriptor, and gets SIGTERM when this script dies (PR_SET_PDEATHSIG) so it is
  # never left running alone. Its pid is that of the command itself (exec), so a signal to it reaches the command.
  (
    if [[ $log_fd != [012] ]]; then exec {log_fd}>&-; fi
    exec setpriv --pdeathsig TERM -- "$@"
  ) &
  child=$!
  $stopping && break
  wait "$child" 2>/dev/null  # without the shell's own notice of a job killed by a signal
  status=$?
  # Only our stop trap interrupts wait; the command may still be running then.
  $stopping && break
  child=""
  ran=$((($(now_ms) - started) / 1000))
  (( ran >= healthy_seconds )) && delay=$first_delay
  restarts=$((restarts + 1))
  log "exited ($(describe "$status")) after $ran s; restart $restarts in $delay s"
  sleep "$delay" &
  sleeper=$!
  $stopping || wait "$sleeper"
  kill "$sleeper" 2>/dev/null
  wait "$sleeper" 2>/dev/null
  sleeper=""
  $stopping && exit 0
  delay=$((delay * 2 > max_delay ? max_delay : delay * 2))
done

[[ -n $child ]] && finish_child
exit 0
