"""Who is calling, and what their token allows.

- viewer: reads everything.
- maintainer of team T: also registers versions of models owned by T, moves their
  aliases, deploys to targets that allow T (a target without `teams:` allows any team).
- admin: everything, tokens and the audit log included.

A request authenticates with `Authorization: Bearer <token>`. The dashboard's pages
(GET only) may send the same token as the `modelyard_token` cookie; changes always need
the header, so a page of another site cannot make a browser change the catalog (CSRF).

A change (any method but GET, HEAD and OPTIONS) is authenticated by api.guard before its
body is read. Failed token attempts are limited per client address (api.limits: 10, then
one every 6 s; 429 with `Retry-After`). Open mode (no token needed) is api.open_mode's
explicit state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from modelyard.api.state import ApiState, api_state, client_address
from modelyard.config import TargetConfig
from modelyard.defaults import Role
from modelyard.errors import Forbidden, Unauthenticated

COOKIE = "modelyard_token"
bearer = HTTPBearer(
    auto_error=False, scheme_name="token", description="An API token from `modelyard token create`."
)


@dataclass(frozen=True)
class Principal:
    """The caller: a token's team and role (or the tokenless local user)."""

    token_id: int | None
    prefix: str | None
    team: str
    role: Role

    @property
    def actor(self) -> str:
        """How the audit log and the deployment history name this caller."""
        if self.token_id is None:
            return "api:open-access"
        return f"api:token {self.token_id} ({self.team}, {self.role})"

    def require_admin(self) -> None:
        if self.role != "admin":
            raise Forbidden(
                f"this needs an admin token; yours is {self.role} of team {self.team!r}"
            )

    def require_team(self, owner_team: str, what: str) -> None:
        """Maintainers change only what their team owns; admins change anything."""
        if self.role == "admin":
            return
        if self.role != "maintainer":
            raise Forbidden(
                f"a viewer token cannot change {what}; ask for a maintainer token "
                f"of team {owner_team!r}"
            )
        if owner_team != self.team:
            raise Forbidden(
                f"{what} is owned by team {owner_team!r}; your token is for team {self.team!r}"
            )

    def require_deploy(self, name: str, target: TargetConfig) -> None:
        if self.role == "admin":
            return
        if self.role != "maintainer":
            raise Forbidden("a viewer token cannot deploy; ask for a maintainer token")
        if target.teams is not None and self.team not in target.teams:
            allowed = ", ".join(target.teams) or "no team"
            raise Forbidden(
                f"target {name!r} allows deployments by {allowed}, not by team {self.team!r}"
            )


OPEN_ACCESS = Principal(None, None, "local", "admin")


def authenticate(state: ApiState, secret: str | None, *, client: str) -> Principal:
    """The principal for a bearer secret sent from the address `client`.

    Raises:
        Unauthenticated: no secret (and the server is not open), or an unknown one
            (a failed attempt of `client`), a revoked or an expired one.
        TooManyAttempts: `client` has no failed attempt left (the secret is not looked at).
    """
    access = state.workspace.access
    if not secret:
        if state.open_mode.is_open(access):
            return OPEN_ACCESS
        raise Unauthenticated(
            "no token: send `Authorization: Bearer <token>` (an admin "
            "creates tokens with `modelyard token create`)"
        )
    state.failed_attempts.check(client)
    token = access.token_for_secret(secret)
    if token is None:
        state.failed_attempts.failed(client)
        raise Unauthenticated("unknown token")
    if not token.is_active:
        # Not a guess (nobody guesses a 256-bit secret that once existed): not counted,
        # so a client left with a revoked token keeps hearing why it is refused.
        raise Unauthenticated(f"token {token.prefix}... was revoked")
    if token.is_expired(datetime.now(UTC)):
        # Not counted either, for the same reason.
        assert token.expires_at is not None
        raise Unauthenticated(
            f"token {token.id} expired at {token.expires_at:%Y-%m-%d %H:%M:%S} UTC; ask an "
            "admin for a new one (`modelyard token create --expires-in 30d`)"
        )
    return Principal(token.id, token.prefix, token.team, token.role)


def bearer_secret(authorization: str | None) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header (None for any other)."""
    scheme, _, secret = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip() or None


def principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    """FastAPI dependency: the authenticated caller (401 otherwise)."""
    secret = credentials.credentials if credentials is not None else None
    if secret is None and request.method in ("GET", "HEAD"):
        secret = request.cookies.get(COOKIE)
    return authenticate(api_state(request), secret, client=client_address(request))


def admin(caller: Principal = Depends(principal)) -> Principal:
    """FastAPI dependency: an admin caller (403 otherwise)."""
    caller.require_admin()
    return caller
