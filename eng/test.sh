#!/usr/bin/env bash
# eng/test.sh: installs and starts the local services, builds, runs every test project,
# and ends with one line "N passed, N failed" summed over all projects. Exits non-zero on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
started=$(date +%s)

eng/services.sh start
# The console's browser tests drive Debian's chromium (never a browser downloaded by Playwright).
if ! command -v chromium >/dev/null 2>&1; then
  if [[ $EUID -eq 0 ]]; then
    echo "test: installing chromium (for the console's browser tests)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
  else
    echo "test: chromium is missing (the console's browser tests fail without it): sudo apt-get install -y chromium"
  fi
fi
# The public contract's linter (ContractTests): @redocly/cli, pinned, from the npm registry into .local/tools.
REDOCLY_VERSION=2.77.0
if ! grep -qs "\"version\": \"$REDOCLY_VERSION\"" .local/tools/redocly/node_modules/@redocly/cli/package.json; then
  echo "test: installing @redocly/cli $REDOCLY_VERSION (for the contract's lint)"
  mkdir -p .local/tools/redocly
  # Not fatal here: without it the lint test alone fails, and says why.
  npm install --prefix .local/tools/redocly --no-audit --no-fund --save-exact "@redocly/cli@$REDOCLY_VERSION" >/dev/null \
    || echo "test: @redocly/cli did not install (is Node.js with npm on this machine?); the contract's lint test will fail"
fi
# Services stall in odd ways when the disk is nearly full (RabbitMQ blocks every publisher under 50 MB free).
echo "test: $(df -h --output=avail,target . | tail -1 | awk '{print $1 " free on " $2}')"

echo "test: building"
dotnet build EventReplay.sln -c Debug -nologo -v:q -clp:ErrorsOnly

results="$ROOT/.local/test-results"
rm -rf "$results"
mkdir -p "$results"

passed=0
failed=0
status=0
for project in Tests/EventReplay.Tests.*/*.csproj; do
  name=$(basename "$project" .csproj)
  echo "test: running $name"
  log="$results/$name.log"
  set +e
  dotnet test "$project" --no-build -c Debug --blame-hang-timeout 10m \
    --logger "trx;LogFileName=$name.trx" --results-directory "$results" 2>&1 | tee "$log"
  code=${PIPESTATUS[0]}
  set -e
  counters=$(grep -o '<Counters [^>]*>' "$results/$name.trx" 2>/dev/null || true)
  if [[ -z $counters ]]; then
    echo "test: $name produced no results (exit $code)"
    failed=$((failed + 1))
    status=1
    continue
  fi
  p=$(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")
  total=$(sed -E 's/.* total="([0-9]+)".*/\1/' <<<"$counters")
  f=$((total - p))
  passed=$((passed + p))
  failed=$((failed + f))
  if [[ $code -ne 0 || $f -ne 0 ]]; then status=1; fi
done

if [[ $status -ne 0 ]]; then
  # CI shows the end of the output: name what failed and what the services complained about, last.
  eng/test-failures.sh "$results" "$ROOT/.local/logs/tests" "$started" || true
fi

echo "test: finished in $(( $(date +%s) - started )) s (results in $results)"
echo "$passed passed, $failed failed"
exit $status
