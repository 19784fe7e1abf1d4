"""API fixtures: the Netflix workspace with two targets on a closed port, tokens, a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api import create_app
from modelyard.triton.server import free_port
from tests.support.api import REC, ROLES, SEARCH, bearer


@pytest.fixture
def api_ws(netflix: Workspace) -> Iterator[Workspace]:
    """The Netflix workspace plus targets `local` and `search-only` (only search_experience
    deploys there), both on a port nothing listens on."""
    assert netflix.root is not None
    closed = free_port()
    config = netflix.root / "modelyard.yaml"
    config.write_text(
        config.read_text()
        + f"""
targets:
  local: {{url: 'http://127.0.0.1:{closed}', repository: repo-local, profile: local}}
  search-only: {{url: 'http://127.0.0.1:{closed}', repository: repo-search, profile: local,
                teams: [{SEARCH}]}}
"""
    )
    opened = Workspace.open(netflix.root, db_url=netflix.db_url)
    yield opened
    opened.close()


@pytest.fixture
def tokens(api_ws: Workspace) -> dict[tuple[str, str], str]:
    """A secret per (role, team) for both teams."""
    return {
        (role, team): api_ws.access.create_token(team, role, f"{role} of {team}", actor="test")[1]
        for role in ROLES
        for team in (REC, SEARCH)
    }


@pytest.fixture
def admin_headers(tokens: dict[tuple[str, str], str]) -> dict[str, str]:
    return bearer(tokens[("admin", REC)])


@pytest.fixture
def client(api_ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(api_ws)) as test_client:
        yield test_client
