"""What the API application holds: the workspace, the deploy jobs, the access mode."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from modelyard.api.jobs import DeployJobs
from modelyard.workspace import Workspace

# How long a page or API call waits for a target's live status: a server that accepts
# connections but does not answer would otherwise hold it for the client's 30 s default.
LIVE_READ_TIMEOUT_S = 2.0


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
