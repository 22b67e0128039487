#!/usr/bin/env bash
# Install Dockyard into ./.venv and run the registry with its built-in defaults:
# SQLite database and blobs under ./dockyard-data, listening on 127.0.0.1:5000.
# Extra arguments go to `dockyard serve` (e.g. --host 0.0.0.0 --port 5000 --workers 2).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q -e .

# The quick start serves without credentials; `dockyard serve` alone requires them.
exec .venv/bin/dockyard serve --no-auth "$@"
