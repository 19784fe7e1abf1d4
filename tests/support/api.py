"""The API tests' teams, roles and bearer header."""

from __future__ import annotations

REC = "recommendation_platform"  # owns user_embedding, ranking_scorer, recommendation_ranker
SEARCH = "search_experience"  # owns query_understanding, content_retrieval
ROLES = ("viewer", "maintainer", "admin")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
