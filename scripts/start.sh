#!/usr/bin/env bash
# Install Dockyard into ./.venv, make `dockyard` a command of the shell (a link in
# ~/.local/bin or /usr/local/bin when one is on PATH and writable; else it says the command to
# use), and run the registry with its built-in defaults: SQLite database and blobs under
# ./dockyard-data, listening on 127.0.0.1:5000 (where the CLI goes when no login is stored).
# Extra arguments go to `dockyard serve` (e.g. --port 5000 --workers 2). Without credentials it
# serves on loopback only: --host 0.0.0.0 also needs --insecure-no-auth-on-network.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# Debian packages: Python's venv, and buildah + git for the build service (quick builds and
# runs). Installed when missing and this is root on Debian; otherwise say what is missing.
missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v buildah >/dev/null || missing+=(buildah)
command -v git >/dev/null || missing+=(git)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
    else
        echo "note: install ${missing[*]} (Debian packages) for everything to work" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q -e .
# `dockyard` in the user's shell (a link on PATH), or the exact command to use.
bash scripts/link-cli.sh .venv/bin/dockyard
echo "dockyard commands use this registry when no other is named: try \`dockyard repository list\`" >&2

# The quick start serves without credentials; `dockyard serve` alone requires them.
exec .venv/bin/dockyard serve --no-auth "$@"
