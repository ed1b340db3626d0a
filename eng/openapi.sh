#!/usr/bin/env bash
# eng/openapi.sh: writes the public contract, docs/openapi/v1.json, as the gateway serves it (merged from the services'
# own documents). Run it after changing a public route; the CLI's HTTP client is generated from that file on the next
# build, and ContractTests fail while the file and what the gateway serves differ. Builds the services and the gateways
# only (the CLI may not build against the old contract), runs them with eng/run.sh and stops them again.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
PORT=${EVENTREPLAY_HTTP_PORT:-8080}
for project in Endpoints/*/*.csproj Gateway/*/*.csproj; do
  dotnet build "$project" -c Release -nologo -v:q -clp:ErrorsOnly
done

ER_NO_BUILD=1 eng/run.sh > "$ROOT/.local/logs/openapi-run.log" 2>&1 &
run=$!
trap 'kill -TERM $run 2>/dev/null; wait $run 2>/dev/null || true' EXIT
document=$(mktemp)
for _ in $(seq 1 180); do
  if curl -sf "http://127.0.0.1:$PORT/openapi/v1.json" -o "$document"; then
    break
  fi
  kill -0 $run 2>/dev/null || { echo "openapi: eng/run.sh stopped; see .local/logs/openapi-run.log" >&2; exit 1; }
  sleep 1
done
[[ -s $document ]] || { echo "openapi: no document from the gateway in 180 s" >&2; exit 1; }
mkdir -p docs/openapi
# As served, with the server the README's quick start uses.
python3 - "$document" docs/openapi/v1.json "$PORT" <<'PY'
import json, sys
document = json.load(open(sys.argv[1]))
document["servers"] = [{"url": "http://127.0.0.1:8080", "description": "The gateway"}]
with open(sys.argv[2], "w") as out:
    out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
PY
rm -f "$document"
echo "openapi: wrote docs/openapi/v1.json ($(python3 -c 'import json,sys;d=json.load(open("docs/openapi/v1.json"));print(sum(len(v) for v in d["paths"].values()))') operations)"
