"""Experiments that reach the clients of ensembles (pure): which ensembles run a model,
which version each of their arms runs, and how the gateway routes their requests.

Triton's rules decide the design (README, "Canaries through ensembles"). An ensemble
step names `model_name` and `model_version`; with -1 Triton runs the highest loaded
version of the step, so the moment a candidate version is loaded for a canary, every
ensemble with an unversioned step would send all its requests to it (checked on a real
Triton: tests/triton/test_ensemble_versions.py). config.pbtxt is per model, not per
version, so one ensemble cannot run two step versions. Hence, while an experiment runs
on a model S that ensembles use:

- each such ensemble E (directly, or through an ensemble that uses S) is compiled with
  its S step pinned to the experiment's first arm, the baseline;
- for every other arm v, a generated *variant* of E, named `E~S@v`, runs the same steps
  with S pinned to v (and a nested ensemble step replaced by that ensemble's variant).
  `~` is in no catalog or Triton name modelyard writes, so a variant never collides
  with a model, and no client calls it unless the gateway sends it there;
- the gateway routes `/v2/models/E/infer` like S's own requests: the same arms,
  weights, counters and sticky buckets (hashed with S's name), each arm rewritten to E
  itself or to its variant. The arm header names S's version.

When the experiment stops, E is pinned to the kept version and the variants go.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from modelyard.traffic.split import Route, RouteArm


def ensemble_users(steps_of: Mapping[str, Collection[str]], model: str) -> list[str]:
    """The ensembles that run `model`: those with a step on it, and those with a step on
    one of them; inner ensembles before the ones that use them, ties by name.

    Args:
        steps_of: ensemble model id -> the model ids its steps name (any version).
    """
    users: list[str] = []
    found = {model}
    while True:
        new = sorted(e for e, steps in steps_of.items() if e not in found and found & set(steps))
        if not new:
            return users
        users += new
        found.update(new)


def ensemble_route(ensemble: str, step_route: Route, variants: Mapping[str, str]) -> Route:
    """The gateway's route for ensemble `ensemble` (a Triton name) while `step_route`
    splits its step: the baseline arm to the ensemble itself, every other arm to its
    variant (`variants`: arm label -> variant name, triton/naming.py's `variant_name`);
    Triton picks the version, as it would for the client's own request."""
    arms = tuple(
        RouteArm(None, arm.label, arm.weight, ensemble if position == 0 else variants[arm.label])
        for position, arm in enumerate(step_route.arms)
    )
    return Route(
        model=ensemble,
        arms=arms,
        sticky_header=step_route.sticky_header,
        key=step_route.key,
        bucket_model=step_route.bucket_model or step_route.model,
    )
