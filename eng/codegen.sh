#!/usr/bin/env bash
# eng/codegen.sh: regenerates the replay service's Wolverine handler code (Endpoints/EventReplay.Replay/Internal/Generated)
# after a message handler or the saga changed: drops the old code (it may no longer compile), builds, writes the new
# code, builds again. Commit the result; a test fails while the committed code is stale.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PROJECT="$ROOT/Endpoints/EventReplay.Replay"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
rm -rf "$PROJECT/Internal/Generated"
dotnet build "$PROJECT" -nologo -v:q -clp:ErrorsOnly
# The service will not start without knowing how to check tokens; writing code checks none, so any key file will do.
(cd "$PROJECT" && Auth__SigningKeyFile=${Auth__SigningKeyFile:-$ROOT/.local/secrets/token-signing.pub.pem} \
  dotnet run --no-build -- codegen write | tail -n 1)
dotnet build "$PROJECT" -nologo -v:q -clp:ErrorsOnly
echo "codegen: wrote $(find "$PROJECT/Internal/Generated" -name '*.cs' | wc -l) files under $PROJECT/Internal/Generated"
