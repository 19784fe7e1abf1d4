"""The Netflix example in examples/netflix: its folders and the references of its models."""

from __future__ import annotations

from pathlib import Path

from modelyard import Workspace

ROOT = Path(__file__).resolve().parents[2]
NETFLIX = ROOT / "examples" / "netflix"
NETFLIX_MODELS = NETFLIX / "models"
# The seed notebook's five models, plus the scorer that makes the ranker an ensemble.
NETFLIX_REFS = [
    "recommendation/content_embedding@2.1",
    "recommendation/ranking_scorer@3.0",
    "recommendation/recommendation_ranker@3.0",
    "recommendation/user_embedding@1.0",
    "search/content_retrieval@2.0",
    "search/query_understanding@1.5",
]


def register_query_understanding(workspace: Workspace, version: str) -> str:
    """Register another version of search/query_understanding (the example's manifest with
    only the version changed); its reference."""
    first = (NETFLIX_MODELS / "search.yaml").read_text().split("---\n")[0]
    workspace.apply_text(
        first.replace('version: "1.5"', f'version: "{version}"'), base_dir=NETFLIX_MODELS
    )
    return f"search/query_understanding@{version}"


# A second version of Netflix's user_embedding (no artifact: compile skips it), for
# experiments and rollouts of it that a test records without a Triton.
USER_EMBEDDING_11 = """\
name: user_embedding
version: "1.1"
model_type: embedding
framework: onnx
domain: recommendation
owner_team: recommendation_platform
"""
