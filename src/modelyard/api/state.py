"""What the API application holds: the workspace, the deploy jobs, the access mode."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from modelyard.api.jobs import DeployJobs
from modelyard.workspace import Workspace


@dataclass
class ApiState:
    workspace: Workspace
    jobs: DeployJobs
    # With no active token in the catalog, every request is the local admin (only for
    # `modelyard server` on loopback, or with --insecure).
    open_access: bool = False


def api_state(connection: HTTPConnection) -> ApiState:
    state: ApiState = connection.app.state.modelyard
    return state
