#!/usr/bin/env bash
# eng/test-failures.sh RESULTS_DIR SERVICE_LOG_DIR STARTED_EPOCH
# Called by eng/test.sh when a run fails: prints the warnings and errors the services logged during the run (newest
# last), then every failed test with the first lines of its message, last, so the end of a CI log names what failed.
set -uo pipefail

results=$1
logs=$2
started=$3

echo "test: ---- disk and memory now"
df -h --output=avail,size,target . | tail -1
free -m | sed -n 2p

if [[ -d $logs ]]; then
echo "test: ---- the services' last warnings and errors during this run (time, process, count if repeated, message)"
find "$logs" -name '*.log' -newermt "@$started" -print0 2>/dev/null \
  | xargs -0 -r grep -H -E ' (warn|fail|crit): ' 2>/dev/null \
  | sed -E -e 's#^.*/([^/]+)\.log:([0-9:.]+) #\2 \1 #' \
      -e 's/ => SpanId:[^ ]+ TraceId:[^ ]+ ParentId:[^ ]+//; s/ => ConnectionId:[^ ]+//; s/ => RequestPath:[^ ]+ RequestId:[^ ]+//' \
      -e 's/ => System\.Collections\.Generic\.Dictionary[^ ]+//; s/ => [A-Za-z]+:[^ ]+//g' \
  | sort -s -k1,1 \
  | awk '{ key = $2 " " substr($0, index($0, $3), 160); if (key in seen) { count[key]++; last[key] = $0 } else { seen[key] = ++n; order[n] = key; count[key] = 1; last[key] = $0 } }
         END { for (i = 1; i <= n; i++) { k = order[i]; line = last[k]; if (count[k] > 1) sub(/ /, " (x" count[k] ") ", line); print line } }' \
  | sort -s -k1,1 \
  | tail -n 25 \
  | cut -c1-300
fi

rabbit_log=$(dirname "$logs")/rabbitmq
if compgen -G "$rabbit_log/*.log" >/dev/null; then
  echo "test: ---- RabbitMQ resource alarms (last 10)"
  grep -h -i -E 'alarm|blocked' "$rabbit_log"/*.log 2>/dev/null | grep -v -i 'monitoring' | tail -n 10 | cut -c1-300
fi

echo "test: ---- failed tests"
for trx in "$results"/*.trx; do
  [[ -f $trx ]] || continue
  perl -0777 -ne '
    while (/<UnitTestResult\b([^>]*?)(?:\/>|>(.*?)<\/UnitTestResult>)/gs) {
      my ($attributes, $body) = ($1, $2 // "");
      next unless $attributes =~ /outcome="Failed"/;
      my ($name) = $attributes =~ /testName="([^"]*)"/;
      my ($message) = $body =~ /<Message>(.*?)<\/Message>/s;
      $message //= "";
      for ($name, $message) { s/&quot;/"/g; s/&lt;/</g; s/&gt;/>/g; s/&apos;/\x27/g; s/&amp;/&/g; }
      my @lines = grep { /\S/ } split /\n/, $message;
      splice @lines, 3 if @lines > 3;
      print "  $name\n";
      print "      $_\n" for @lines;
    }' "$trx"
done
