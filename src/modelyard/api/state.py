"""What the API application holds: the workspace, the deploy jobs, the access mode and
the limits on what one request or client may cost."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from modelyard.api.jobs import DeployJobs
from modelyard.api.limits import MIB, FailedAttempts
from modelyard.api.open_mode import OpenMode
from modelyard.api.rollouts import RolloutRuns
from modelyard.defaults import DEFAULT_MAX_BODY_MB
from modelyard.workspace import Workspace

# How long a page or API call waits for a target's live status: a server that accepts
# connections but does not answer would otherwise hold it for the client's 30 s default.
LIVE_READ_TIMEOUT_S = 2.0


@dataclass
class ApiState:
    workspace: Workspace
    jobs: DeployJobs
    # Whether requests without a token are the local admin (only for `modelyard server`
    # on loopback, or with --insecure, over a catalog that never held a token).
    open_mode: OpenMode = field(default_factory=lambda: OpenMode(False))
    # The largest request body read (api.max_body_mb, or `server --max-body-mb`).
    max_body_bytes: int = DEFAULT_MAX_BODY_MB * MIB
    failed_attempts: FailedAttempts = field(default_factory=FailedAttempts)
    # The canary rollouts this server drives (POST /rollouts/{domain}/{name}).
    rollouts: RolloutRuns | None = None

    def rollout_runs(self) -> RolloutRuns:
        if self.rollouts is None:
            self.rollouts = RolloutRuns(self.workspace)
        return self.rollouts


def api_state(connection: HTTPConnection) -> ApiState:
    state: ApiState = connection.app.state.modelyard
    return state


def client_address(connection: HTTPConnection) -> str:
    """The peer's address, the key of the failed-attempt limit (behind a reverse proxy
    every client has the proxy's)."""
    return connection.client.host if connection.client else "unknown"
