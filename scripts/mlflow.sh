#!/usr/bin/env bash
# A throwaway MLflow tracking server for the import-mlflow tests, on loopback only.
#
#   scripts/mlflow.sh start   prints the tracking URI of a running server (starts one)
#   scripts/mlflow.sh stop    stops it and deletes its data
#
# MLflow lives in its own virtualenv, .venv-mlflow at the project root (created and filled
# from PyPI when missing): its pins clash with the project's, and modelyard only talks to
# it over its REST API. The SQLite backend and the file artifact root live in
# $MODELYARD_MLFLOW_DIR (default /tmp/modelyard-mlflow); the server's pid is kept there.
# Artifacts are served through the tracking server (`mlflow-artifacts:/` URIs, its REST
# artifact proxy), as a remote MLflow serves them: modelyard downloads them over HTTP.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MODELYARD_MLFLOW_VENV:-$ROOT/.venv-mlflow}
DATA=${MODELYARD_MLFLOW_DIR:-/tmp/modelyard-mlflow}
PORT=${MODELYARD_MLFLOW_PORT:-55000}
PYTHON=${PYTHON:-python3}
# The MLflow the tests were written against (its REST API is stable across 2.x and 3.x).
SPEC=${MODELYARD_MLFLOW_SPEC:-mlflow==3.17.2}
URI="http://127.0.0.1:$PORT"

install() {
    if [ ! -x "$VENV/bin/mlflow" ]; then
        echo "installing MLflow into $VENV from PyPI..." >&2
        "$PYTHON" -m venv "$VENV" >&2
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "$SPEC" >&2
    fi
}

running() {
    [ -f "$DATA/server.pid" ] && kill -0 "$(cat "$DATA/server.pid")" 2>/dev/null
}

ready() {
    "$VENV/bin/python" - "$URI" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/health", timeout=1).read()
PY
}

start() {
    install
    if ! running; then
        rm -rf "$DATA" && mkdir -p "$DATA/artifacts"
        # setsid: the server and its workers form one process group, stopped together.
        setsid "$VENV/bin/mlflow" server \
            --backend-store-uri "sqlite:///$DATA/mlflow.db" \
            --artifacts-destination "file://$DATA/artifacts" --serve-artifacts \
            --host 127.0.0.1 --port "$PORT" --workers 1 \
            >"$DATA/server.log" 2>&1 </dev/null &
        echo $! >"$DATA/server.pid"
    fi
    for _ in $(seq 1 600); do
        if ready; then echo "$URI"; return 0; fi
        if ! running; then
            echo "mlflow server exited; its log: $DATA/server.log" >&2
            tail -n 20 "$DATA/server.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    echo "mlflow server not ready after 60 s; its log: $DATA/server.log" >&2
    return 1
}

stop() {
    if running; then
        local pid
        pid=$(cat "$DATA/server.pid")
        kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$DATA"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    install) install ;;
    *) echo "usage: $0 start|stop|install" >&2; exit 2 ;;
esac
