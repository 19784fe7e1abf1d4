"""A model's neighbourhood drawing stays bounded however deep the catalog is."""

from __future__ import annotations

from pathlib import Path

from modelyard import Workspace
from modelyard.report.graphs import NEIGHBOURHOOD_LIMIT, to_dot


def model(name: str, deps: tuple[str, ...] = ()) -> str:
    needs = "".join(f"\n  - {d}" for d in deps)
    return f"""---
name: {name}
version: "1.0"
model_type: classification
framework: onnx
domain: shop
owner_team: shop_ml
dependencies:{needs or " []"}
"""


def apply_text(workspace: Workspace, tmp_path: Path, text: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    workspace.apply([path])


def test_a_model_page_draws_the_nearest_part_of_a_deep_chain(
    workspace: Workspace, tmp_path: Path
) -> None:
    depth = 600
    text = model("m0") + "".join(model(f"m{i}", deps=(f"shop/m{i - 1}",)) for i in range(1, depth))
    apply_text(workspace, tmp_path, text)
    middle = workspace.graph_view("shop/m300")
    assert len(middle.nodes) == NEIGHBOURHOOD_LIMIT
    assert middle.hidden == depth - NEIGHBOURHOOD_LIMIT
    # The nearest both ways: 59 it needs, 60 that need it.
    assert "shop/m241@1.0" in middle.nodes and "shop/m360@1.0" in middle.nodes
    assert "shop/m240@1.0" not in middle.nodes and "shop/m361@1.0" not in middle.nodes
    assert len(middle.edges) == NEIGHBOURHOOD_LIMIT - 1
    assert f"{depth - NEIGHBOURHOOD_LIMIT:,} more are not drawn" in to_dot(middle)
    # Where one side is short, the other side gets the room.
    top = workspace.graph_view(f"shop/m{depth - 1}")
    assert len(top.nodes) == NEIGHBOURHOOD_LIMIT and top.nodes[0] != "shop/m0@1.0"
    small = workspace.graph_view("shop/m0", alias=None)
    assert small.hidden == depth - NEIGHBOURHOOD_LIMIT
