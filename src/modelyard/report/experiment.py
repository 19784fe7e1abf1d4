"""The HTML page of an experiment report (`experiment report --html DIR`): one self-contained
page in the catalog report's style, from the report's data (its JSON form)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelyard.report.html import _environment


def build_experiment_html(report: Mapping[str, Any]) -> str:
    """The page for one `ExperimentReport` (as `model_dump(mode="json")` gives it)."""
    arms = report["arms"]
    top = max([arm["high"] for arm in arms if arm["n"]] + [1e-9])
    return (
        _environment()
        .get_template("experiment.html.j2")
        .render(report=report, arms=arms, scale=260 / top if top > 0 else 0)
    )
