#!/usr/bin/env bash
# Benchmark Dockyard against the CNCF reference registry (Debian's docker-registry) with the
# registry benchmark harness, in one run, and print the ratio table.
#
#   bash scripts/bench.sh HARNESS_DIR [--workers N] [-- extra harness args, e.g. --repeat 3]
#
# HARNESS_DIR holds regbench.py, compare.sh and setup.sh. Needs root for the one-time set-up
# (apt packages and the harness venv) and a Docker daemon for the real-client scenario; both
# are started here when missing. Results go to ./bench-results.
set -euo pipefail

[ $# -ge 1 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
HARNESS=$(cd "$1" && pwd); shift
WORKERS=2
while [ $# -gt 0 ]; do
    case "$1" in
        --workers) WORKERS=$2; shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
export BENCH_VENV=${BENCH_VENV:-$HOME/.cache/regbench-venv}
export OUT=${OUT:-$REPO_ROOT/bench-results}

[ -x "$BENCH_VENV/bin/python" ] && command -v docker-registry >/dev/null || bash "$HARNESS/setup.sh"
[ -x .venv/bin/dockyard ] || { python3 -m venv .venv && .venv/bin/pip install -q -e .; }

if ! docker info >/dev/null 2>&1; then
    dockerd --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
        >/tmp/dockyard-bench-dockerd.log 2>&1 &
    for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
# The harness builds its real-client images FROM local/busybox:1; make it offline.
if ! docker image inspect local/busybox:1 >/dev/null 2>&1; then
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs/bin"
    cp /bin/busybox "$rootfs/bin/busybox"
    for tool in $("$rootfs/bin/busybox" --list); do ln -sf busybox "$rootfs/bin/$tool"; done
    tar -C "$rootfs" -c . | docker import - local/busybox:1 >/dev/null
    rm -rf "$rootfs"
fi

DATA=$(mktemp -d /tmp/dockyard-bench.XXXXXX)
PORT=5000
# The reference registry has no request-rate limits, and every harness client comes from one
# address; the tier's limits would turn most of the run into 429s. Throughput is compared
# with them off (RATE_LIMITS=on keeps them, to measure the limiter itself).
[ "${RATE_LIMITS:-off}" = on ] || export DOCKYARD_RATE_LIMIT_ENABLED=false
.venv/bin/dockyard serve --no-auth --data-dir "$DATA" --port "$PORT" --workers "$WORKERS" \
    >"$DATA.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA" "$DATA.log"' EXIT
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

bash "$HARNESS/compare.sh" "http://127.0.0.1:$PORT" "$SERVER" "$@"
