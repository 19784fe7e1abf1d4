"""A rollout plan as a bash script that performs it with curl (the notebook's script, real).

The script loads models in the plan's order, polls each for readiness with a timeout,
and stops with a non-zero exit at the first failure.
"""

from __future__ import annotations

import shlex

from modelyard.deploy.plan import RolloutPlan


def rollout_script(
    plan: RolloutPlan, url: str, *, compile_command: str | None = None, ready_timeout_s: int = 120
) -> str:
    lines = [
        "#!/usr/bin/env bash",
        f"# modelyard rollout of target {plan.target!r} to {url}: generated, do not edit.",
        "set -euo pipefail",
        f"TRITON_URL=${{TRITON_URL:-{shlex.quote(url)}}}",
        f"READY_TIMEOUT_S=${{READY_TIMEOUT_S:-{ready_timeout_s}}}",
        "",
        "load_model() {",
        '  echo "loading $1"',
        "  if ! curl -sS --fail-with-body -X POST \\",
        '      "$TRITON_URL/v2/repository/models/$1/load" -o /tmp/modelyard-load.$$; then',
        '    echo "load of $1 failed: $(cat /tmp/modelyard-load.$$)" >&2',
        "    rm -f /tmp/modelyard-load.$$; exit 1",
        "  fi",
        "  rm -f /tmp/modelyard-load.$$",
        "}",
        "",
        "wait_ready() {  # model, then its versions",
        "  local model=$1; shift",
        "  local deadline=$((SECONDS + READY_TIMEOUT_S))",
        '  for version in "$@"; do',
        '    until curl -sf "$TRITON_URL/v2/models/$model/versions/$version/ready" >/dev/null; do',
        "      if (( SECONDS >= deadline )); then",
        '        echo "$model version $version not ready within ${READY_TIMEOUT_S}s" >&2; exit 1',
        "      fi",
        "      sleep 0.2",
        "    done",
        "  done",
        '  echo "ready $model"',
        "}",
        "",
        "unload_model() {",
        '  echo "unloading $1"',
        "  curl -sS --fail-with-body -X POST \\",
        '    "$TRITON_URL/v2/repository/models/$1/unload" >/dev/null',
        "}",
        "",
    ]
    if compile_command:
        lines += [
            "# Write the repository the server reads (atomic; unchanged files are kept).",
            compile_command,
            "",
        ]
    for action in plan.actions:
        if action.action in ("load", "reload"):
            lines.append(f"load_model {shlex.quote(action.triton_name)}")
            lines.append(
                f"wait_ready {shlex.quote(action.triton_name)} "
                + " ".join(str(v) for v in action.versions)
            )
    for action in plan.of("unload"):
        lines.append(f"unload_model {shlex.quote(action.triton_name)}")
    lines += ["", 'echo "rollout complete"', ""]
    return "\n".join(lines)
