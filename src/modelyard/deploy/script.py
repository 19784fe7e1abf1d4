"""A rollout plan as a bash script that performs it with curl (the notebook's script, real).

The script does what `modelyard deploy` does, one model at a time:

1. The compile step (the modelyard CLI) writes the target's repository, but only if the
   catalog and the server still match the plan the script was written from: the plan is
   embedded, and `modelyard compile --target T --expect-plan -` refuses with one line
   naming each model that changed (exit 4) before anything is written or loaded.
2. Each model is loaded in the plan's order (dependencies first), polled until every
   wanted version is READY, and sent one smoke inference per version: the manifest's
   example inputs, else zeros (`triton.inputs`, as the runner sends), as a JSON body
   computed when the script was written.
3. Any failure rolls back, as the runner does: the repository link goes back to the
   generation it served before, every model the script loaded is reloaded from it (or
   unloaded if it was not served before), and the script exits 8 with one line saying
   what failed and what was rolled back.

Unlike the runner, the script reloads an upgraded model in place (no side-by-side
overlap of the old and new versions) and holds no lease on the target.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from modelyard.deploy.plan import RolloutPlan
from modelyard.triton.compiler import CompilePlan
from modelyard.triton.inputs import compiled_request_inputs, infer_body

# What the embedded plan ends with (a JSON line never is this).
_PLAN_END = "MODELYARD_PLAN"
ROLLED_BACK_EXIT = 8  # the CLI's code for "rollout failed and rolled back"

_FUNCTIONS = r"""
say() { echo "modelyard: $*" >&2; }

post() {  # path under /v2, JSON body or "": 2xx, else 1 with the reason in $error
  local code args=(-sS -X POST -o "$work/answer" -w '%{http_code}')
  if [[ -n "$2" ]]; then args+=(-H 'Content-Type: application/json' --data-binary "$2"); fi
  if ! code=$(curl "${args[@]}" "$TRITON_URL/v2/$1" 2>"$work/curl"); then
    error="Triton at $TRITON_URL is unreachable: $(head -c 300 "$work/curl")"; return 1
  fi
  if [[ $code != 2* ]]; then
    error="HTTP $code: $(head -c 500 "$work/answer")"; return 1
  fi
}

wait_ready() {  # model, then its versions: 0 once all are READY, else 1 with $error
  local model=$1 version; shift
  local deadline=$((SECONDS + READY_TIMEOUT_S))
  for version in "$@"; do
    until curl -sf "$TRITON_URL/v2/models/$model/versions/$version/ready" >/dev/null; do
      if (( SECONDS >= deadline )); then
        error="$model: not READY within ${READY_TIMEOUT_S} s (version $version)"; return 1
      fi
      sleep 0.2
    done
  done
}

deploy_model() {  # model, versions served before ("" if none), versions wanted
  local model=$1 live=$2 wanted=$3
  touched+=("$model"); touched_live+=("$live")
  echo "loading $model"
  post "repository/models/$model/load" "" || fail "load of $model failed: $error"
  # shellcheck disable=SC2086  # the versions are words
  wait_ready "$model" $wanted || fail "$error"
}

smoke() {  # model, version, request body
  echo "smoke test $1 version $2"
  post "models/$1/versions/$2/infer" "$3" \
    || fail "$1: smoke inference on version $2 failed: $error"
}

unload_model() {
  echo "unloading $1"
  post "repository/models/$1/unload" "" || fail "unload of $1 failed: $error"
}

roll_back() {  # the repository as it was, then every touched model, dependents first
  local i model live problems=()
  if [[ -n "$previous" ]]; then
    if ! { ln -sfn "$previous" "$REPOSITORY.rollback-$$" \
           && mv -Tf "$REPOSITORY.rollback-$$" "$REPOSITORY"; }; then
      problems+=("cannot point $REPOSITORY back at $previous")
    fi
  fi
  for (( i=${#touched[@]}-1; i>=0; i-- )); do
    model=${touched[i]}; live=${touched_live[i]}
    echo "rolling back $model"
    if [[ -n "$live" ]]; then
      # Triton reloads a model only when its folder looks newer than what it loaded, and
      # the restored generation is older: give the folder the time of now (content as is).
      touch "$REPOSITORY/$model" 2>/dev/null || true
      # shellcheck disable=SC2086
      if post "repository/models/$model/load" "" && wait_ready "$model" $live; then
        rolled+=("$model")
      else
        problems+=("reload of $model: $error")
      fi
    elif post "repository/models/$model/unload" ""; then
      rolled+=("$model")
    else
      problems+=("unload of $model: $error")
    fi
  done
  if (( ${#problems[@]} )); then
    rollback_error=$(IFS=';'; echo "${problems[*]}")
  fi
}

fail() {
  say "rollout to $TARGET failed: $1"
  roll_back
  if [[ -n "$rollback_error" ]]; then
    say "the rollback failed too ($rollback_error); once the server answers again, run" \
        "\`modelyard deploy --target $TARGET\`: it loads what is missing"
  else
    local what="${rolled[*]:-nothing}"
    say "rolled back ${what// /, }; the server serves what it served before"
  fi
  exit ROLLED_BACK_EXIT
}
""".replace("ROLLED_BACK_EXIT", str(ROLLED_BACK_EXIT))


def rollout_script(
    plan: RolloutPlan,
    compiled: CompilePlan,
    *,
    url: str,
    repository: Path,
    modelyard: Sequence[str],
    compile_args: Sequence[str],
    ready_timeout_s: int = 120,
) -> str:
    """The bash script performing `plan` on the target at `url`.

    Args:
        compiled: the repository the plan publishes (its configs and examples give the
            smoke requests).
        repository: the folder the server reads (the link a rollback points back).
        modelyard: how to run the CLI (`MODELYARD` in the environment overrides it).
        compile_args: the compile step's arguments after the program, ending with
            `--expect-plan -` (the plan comes on standard input).
    """
    by_name = {m.triton_name: m for m in compiled.models.values()}
    lines = [
        "#!/usr/bin/env bash",
        f"# modelyard rollout of target {plan.target!r} to {url}: generated, do not edit.",
        f"# Plan digest {plan.digest}: the compile step refuses to run when the catalog or",
        "# the server no longer matches it. Each load is smoke-tested; any failure restores",
        f"# the previous repository, reloads or unloads what was touched, and exits "
        f"{ROLLED_BACK_EXIT}.",
        "set -uo pipefail",
        f"TARGET={shlex.quote(plan.target)}",
        f"TRITON_URL=${{TRITON_URL:-{shlex.quote(url)}}}",
        f"READY_TIMEOUT_S=${{READY_TIMEOUT_S:-{ready_timeout_s}}}",
        f"REPOSITORY={shlex.quote(str(repository))}",
        f"PLAN_DIGEST={plan.digest}",
        "# MODELYARD: the command that runs the modelyard CLI (words split on spaces).",
        'if [[ -n "${MODELYARD:-}" ]]; then read -r -a modelyard <<< "$MODELYARD"; else',
        f"  modelyard=({' '.join(shlex.quote(part) for part in modelyard)}); fi",
        "work=$(mktemp -d); trap 'rm -rf \"$work\"' EXIT",
        'previous="" error="" rollback_error=""',
        "touched=() touched_live=() rolled=()",
        _FUNCTIONS,
        "# The repository served now: a rollback points the link back at it.",
        'if [[ -L "$REPOSITORY" ]]; then previous=$(readlink "$REPOSITORY"); fi',
        "",
        "# Write the repository the server reads (atomic), if the plan still holds.",
        '"${modelyard[@]}" '
        + " ".join(shlex.quote(arg) for arg in compile_args)
        + f" <<'{_PLAN_END}' >&2 || {{ status=$?; say \"refused (plan $PLAN_DIGEST): nothing "
        'was loaded"; exit $status; }',
        plan.model_dump_json(),
        _PLAN_END,
        "",
    ]
    for action in plan.actions:
        if action.action not in ("load", "reload"):
            continue
        name = shlex.quote(action.triton_name)
        lines.append(
            f"deploy_model {name} "
            f"{shlex.quote(' '.join(map(str, action.live_versions)))} "
            f"{shlex.quote(' '.join(map(str, action.versions)))}"
        )
        model = by_name.get(action.triton_name)
        if model is None:  # pragma: no cover - a plan's loads are its compiled models
            continue
        body = json.dumps(infer_body(compiled_request_inputs(model.config, model.examples)))
        for version in action.versions:
            lines.append(f"smoke {name} {version} {shlex.quote(body)}")
    for action in plan.of("unload"):
        lines.append(f"unload_model {shlex.quote(action.triton_name)}")
    lines += ["", 'echo "rollout complete (plan $PLAN_DIGEST)"', ""]
    return "\n".join(lines)
