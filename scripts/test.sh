#!/usr/bin/env bash
# The one command that checks Dockyard: installs what the tests need, starts the services
# they use, runs the linters and the whole test suite on SQLite, and at the same time the
# integration suite again on PostgreSQL. Idempotent; stops only the services it started.
#
#   bash scripts/test.sh              # everything
#   bash scripts/test.sh -k docker    # extra arguments go to every pytest pass
#
# Environment knobs:
#   DOCKYARD_SKIP_INSTALL=1    do not apt-get / pip install (tools must already be there)
#   DOCKYARD_SKIP_POSTGRES=1   skip the PostgreSQL pass
#   DOCKYARD_PG_SUITES         suites for the PostgreSQL pass [tests/integration tests/service tests/protocol]
#   DOCKYARD_PG_PASSWORD       password set on the local postgres role [dockyard]
set -uo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT" || exit 1

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1

APT_PACKAGES=(docker.io docker-registry redis-server skopeo buildah podman postgresql busybox-static debootstrap curl git python3 python3-venv chromium)
DOCKERD_FLAGS=(--storage-driver=vfs --iptables=false --ip-masq=false --bridge=none)
PG_PASSWORD="${DOCKYARD_PG_PASSWORD:-dockyard}"
read -r -a PG_SUITES <<<"${DOCKYARD_PG_SUITES:-tests/integration tests/service tests/protocol}"
VENV="$REPO_ROOT/.venv"
WORK_DIR="$(mktemp -d /tmp/dockyard-test.XXXXXX)"
SCRIPT_START=$SECONDS

DOCKERD_PID=""
PG_STARTED=""
PG_CLUSTER=""
RESULTS=()
FAILED=0

section() {
    printf '\n\033[1m==== %s ====\033[0m  (%s, +%ss)\n' "$*" "$(date +%H:%M:%S)" "$((SECONDS - SCRIPT_START))"
}

die() {
    printf '\nERROR: %s\n' "$*" >&2
    exit 1
}

record() {
    local name="$1" rc="$2" took="$3"
    if [ "$rc" -eq 0 ]; then
        RESULTS+=("PASS  ${name} (${took}s)")
    else
        RESULTS+=("FAIL  ${name} (exit ${rc}, ${took}s)")
        FAILED=1
    fi
}

# Run one check; record PASS/FAIL and go on, so one failure does not hide the others.
step() {
    local name="$1"
    shift
    section "$name"
    local start=$SECONDS rc=0
    "$@" || rc=$?
    record "$name" "$rc" $((SECONDS - start))
}

# A check run in the background, beside the others: its output goes to a file, printed (and
# its result recorded) by join_background.
BG_NAMES=()
BG_PIDS=()
BG_STARTS=()
BG_LOGS=()

background() {
    local name="$1" log="$2"
    shift 2
    section "$name: in the background (output: $log)"
    ("$@" >"$log" 2>&1; rc=$?; echo "$SECONDS" >"$log.end"; exit "$rc") &
    BG_NAMES+=("$name")
    BG_PIDS+=("$!")
    BG_STARTS+=("$SECONDS")
    BG_LOGS+=("$log")
}

join_background() {
    local i rc
    for i in "${!BG_PIDS[@]}"; do
        rc=0
        wait "${BG_PIDS[i]}" || rc=$?
        section "${BG_NAMES[i]} (ran in the background)"
        cat "${BG_LOGS[i]}"
        record "${BG_NAMES[i]}" "$rc" $(($(cat "${BG_LOGS[i]}.end") - BG_STARTS[i]))
    done
    BG_PIDS=()
}

stop_services() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        pkill -TERM -P "$pid" 2>/dev/null || true
    done
    BG_PIDS=()
    if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        section "Stopping dockerd (pid $DOCKERD_PID)"
        kill -TERM "$DOCKERD_PID" 2>/dev/null || true
        for _ in $(seq 60); do
            kill -0 "$DOCKERD_PID" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$DOCKERD_PID" 2>/dev/null; then
            kill -KILL "$DOCKERD_PID" 2>/dev/null || true
        fi
        DOCKERD_PID=""
    fi
    if [ -n "$PG_STARTED" ]; then
        section "Stopping PostgreSQL cluster $PG_CLUSTER"
        # shellcheck disable=SC2086
        pg_ctlcluster $PG_CLUSTER stop -m fast || true
        PG_STARTED=""
    fi
}

on_exit() {
    local rc=$?
    stop_services
    if [ "$rc" -eq 0 ]; then
        # The tests' data directories; the server logs in them are kept when something failed.
        rm -rf "$WORK_DIR"/pytest-sqlite "$WORK_DIR"/pytest-in-process "$WORK_DIR"/pytest-e2e "$WORK_DIR"/pytest-postgres
    fi
    echo "logs of this run: $WORK_DIR"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

have_pkg() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# ------------------------------------------------------------------------------------
install_system_packages() {
    section "System packages"
    if [ "${DOCKYARD_SKIP_INSTALL:-}" = "1" ]; then
        echo "DOCKYARD_SKIP_INSTALL=1: not installing"
        return
    fi
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        have_pkg "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "all present: ${APT_PACKAGES[*]}"
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
    echo "installing: ${missing[*]}"
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq "${missing[@]}" >"$WORK_DIR/apt.log" 2>&1 \
        || { tail -n 40 "$WORK_DIR/apt.log"; die "apt-get install failed"; }
    echo "installed (log: $WORK_DIR/apt.log)"
}

install_python() {
    section "Python virtualenv ($VENV)"
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV" || die "could not create $VENV"
    fi
    if [ "${DOCKYARD_SKIP_INSTALL:-}" = "1" ]; then
        echo "DOCKYARD_SKIP_INSTALL=1: not running pip"
    else
        "$VENV/bin/pip" install -q -e '.[test]' >"$WORK_DIR/pip.log" 2>&1 \
            || { tail -n 40 "$WORK_DIR/pip.log"; die "pip install -e '.[test]' failed"; }
        echo "installed the package and its test extras (log: $WORK_DIR/pip.log)"
    fi
    "$VENV/bin/python" --version
}

# ------------------------------------------------------------------------------------
start_dockerd() {
    section "Docker daemon"
    if docker info >/dev/null 2>&1; then
        echo "already running: $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}')"
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "no Docker daemon reachable and not root to start one"
    command -v dockerd >/dev/null || die "dockerd not installed"
    # A daemon killed without cleanup leaves its pid file; dockerd refuses to start if that
    # pid now belongs to another live process.
    local pidfile=/var/run/docker.pid
    if [ -f "$pidfile" ]; then
        local old
        old="$(cat "$pidfile" 2>/dev/null || true)"
        if [ -z "$old" ] || [ "$(cat "/proc/$old/comm" 2>/dev/null)" != "dockerd" ]; then
            rm -f "$pidfile"
        fi
    fi
    echo "starting: dockerd ${DOCKERD_FLAGS[*]} (log: $WORK_DIR/dockerd.log)"
    dockerd "${DOCKERD_FLAGS[@]}" >"$WORK_DIR/dockerd.log" 2>&1 </dev/null &
    DOCKERD_PID=$!
    for _ in $(seq 120); do
        if docker info >/dev/null 2>&1; then
            echo "ready: $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}')"
            return
        fi
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.5
    done
    tail -n 40 "$WORK_DIR/dockerd.log" >&2
    die "dockerd did not become ready"
}

start_postgres() {
    section "PostgreSQL"
    if [ "${DOCKYARD_SKIP_POSTGRES:-}" = "1" ]; then
        echo "DOCKYARD_SKIP_POSTGRES=1: not starting PostgreSQL"
        return
    fi
    command -v pg_lsclusters >/dev/null || die "postgresql not installed"
    local line
    line="$(pg_lsclusters -h | head -n 1)"
    if [ -z "$line" ]; then
        local version
        version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)"
        [ -n "$version" ] || die "no PostgreSQL server version installed"
        echo "creating cluster $version main"
        pg_createcluster "$version" main >/dev/null || die "pg_createcluster failed"
        line="$(pg_lsclusters -h | head -n 1)"
    fi
    local version name port status
    read -r version name port status _ <<<"$line"
    PG_CLUSTER="$version $name"
    PG_PORT="$port"
    if [ "$status" = "online" ]; then
        echo "cluster $PG_CLUSTER already online on port $port"
    else
        echo "starting cluster $PG_CLUSTER on port $port"
        # shellcheck disable=SC2086
        pg_ctlcluster $PG_CLUSTER start || die "pg_ctlcluster $PG_CLUSTER start failed"
        PG_STARTED=1
    fi
    for _ in $(seq 60); do
        pg_isready -q -h 127.0.0.1 -p "$port" && break
        sleep 0.5
    done
    pg_isready -h 127.0.0.1 -p "$port" || die "PostgreSQL is not accepting connections"
    # Password login over TCP (Debian's pg_hba.conf uses scram-sha-256 on 127.0.0.1).
    runuser -u postgres -- psql -q -p "$port" -v ON_ERROR_STOP=1 \
        -c "ALTER ROLE postgres PASSWORD '$PG_PASSWORD'" >/dev/null \
        || die "could not set the postgres role's password"
    export DOCKYARD_PG_URL="postgresql://postgres:${PG_PASSWORD}@127.0.0.1:${port}/postgres"
    echo "tests will use $DOCKYARD_PG_URL"
}

drop_test_databases() {
    # Every test server gets a fresh database dockyard_test_<hex>; drop them afterwards.
    local dbs
    dbs="$(runuser -u postgres -- psql -p "$PG_PORT" -Atc \
        "SELECT datname FROM pg_database WHERE datname LIKE 'dockyard\_test\_%'" 2>/dev/null)" || return 0
    local n=0
    for db in $dbs; do
        runuser -u postgres -- psql -q -p "$PG_PORT" \
            -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 && n=$((n + 1))
    done
    echo "dropped $n test database(s)"
}

# ------------------------------------------------------------------------------------
EXTRA_ARGS=$#

# run_pytest NAME ARGS...: one pytest pass, with its own temporary directory.
run_pytest() {
    local name="$1" rc=0
    shift
    "$VENV/bin/pytest" -ra --durations=10 --basetemp="$WORK_DIR/pytest-$name" "$@" || rc=$?
    # pytest exits 5 when it collected nothing: a failure, unless the arguments given to this
    # script (say -k docker) selected nothing in this pass.
    if [ "$rc" -eq 5 ] && [ "$EXTRA_ARGS" -gt 0 ]; then
        echo "(nothing selected in this pass)"
        rc=0
    fi
    return "$rc"
}

run_pytest_postgres() {
    local rc=0
    # Tests marked db_independent check nothing that the database does (docs/testing.md).
    DOCKYARD_TEST_POSTGRES="$DOCKYARD_PG_URL" run_pytest postgres -m "not db_independent" "$@" \
        || rc=$?
    drop_test_databases
    return "$rc"
}

section "Dockyard test run in $REPO_ROOT (CI=${CI:-})"
install_system_packages
install_python
start_dockerd
start_postgres

# Every server, worker and CLI run of the tests imports Dockyard afresh: compiled once here
# (rather than by each of three passes at once), its bytecode saves each of them that work.
"$VENV/bin/python" -m compileall -q src tests >/dev/null || die "compileall failed"
step "ruff check" "$VENV/bin/ruff" check .
step "ruff format --check" "$VENV/bin/ruff" format --check .
step "mypy (strict)" "$VENV/bin/mypy"
step "lint-imports" "$VENV/bin/lint-imports"
# The in-process tiers (unit, contract, service, protocol), then the real-client suite: one
# pass, as the in-process tiers take a minute or two and tests/e2e ends well before the rest.
run_in_process_then_e2e() {
    local rc=0
    run_pytest in-process --ignore=tests/e2e --ignore=tests/integration tests "$@" || rc=$?
    run_pytest e2e tests/e2e "$@" || rc=$?
    return "$rc"
}

# The tests wait on servers, clients, builds and timers far more than they compute, so the
# passes run side by side: the in-process tiers and the real-client suite, and the PostgreSQL
# pass, in the background; tests/integration on SQLite, the longest, in the foreground with
# its output live.
background "pytest (SQLite): the in-process tiers, then tests/e2e" "$WORK_DIR/pytest-e2e.log" \
    run_in_process_then_e2e "$@"
if [ "${DOCKYARD_SKIP_POSTGRES:-}" != "1" ]; then
    background "pytest (PostgreSQL): ${PG_SUITES[*]}" "$WORK_DIR/pytest-postgres.log" \
        run_pytest_postgres "${PG_SUITES[@]}" "$@"
fi
step "pytest (SQLite): tests/integration" run_pytest sqlite tests/integration "$@"
join_background

stop_services

section "Summary ($((SECONDS - SCRIPT_START))s)"
for line in "${RESULTS[@]}"; do
    echo "$line"
done
if [ "$FAILED" -ne 0 ]; then
    echo "RESULT: FAILED"
    exit 1
fi
echo "RESULT: OK"
