"""One deployer per target: a lease in the catalog database, held for a deploy or an
undeploy, renewed by a heartbeat thread, released on the way out.

The lease HOLDER names one deployer process (user, host, pid and a token, so two
deployers in one process stay apart); it is never the audited ACTOR (who asked: an API
token's name, `local:<user>`). A holder killed without goodbye stops renewing, and its
lease expires after its time to live.
"""

from __future__ import annotations

import functools
import getpass
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from modelyard.deploy.heartbeat import Heartbeat
from modelyard.errors import Conflict
from modelyard.store.history import DeploymentLog

DEFAULT_LEASE_TTL_S = 120.0
_POLL_S = 0.5


def default_holder() -> str:
    """A lease holder unique to this deployer: `user@host:pid/token`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    # The token keeps two deployers in one process (threads, an API server) apart.
    return f"{user}@{socket.gethostname()}:{os.getpid()}/{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Lease:
    """A lease held on `target` by `holder`, renewed every third of `ttl_s`."""

    target: str
    holder: str
    ttl_s: float


def acquire_lease(
    log: DeploymentLog,
    target: str,
    *,
    holder: str,
    ttl_s: float = DEFAULT_LEASE_TTL_S,
    wait_s: float = 0.0,
) -> Lease:
    """Take the target's lease, waiting up to `wait_s` for another holder to let go.

    Raises:
        Conflict: another holder still has it, naming who and since when.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            log.acquire_lease(target, holder, ttl_s)
            return Lease(target, holder, ttl_s)
        except Conflict:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))


@contextmanager
def hold_lease(
    log: DeploymentLog,
    target: str,
    *,
    holder: str,
    ttl_s: float = DEFAULT_LEASE_TTL_S,
    wait_s: float = 0.0,
) -> Iterator[Lease]:
    """Hold the target's lease for the `with` block: acquired (waiting up to `wait_s`),
    renewed by a heartbeat, released when the block ends, however it ends.

    Raises:
        Conflict: another holder has the lease (and kept it for `wait_s`).
    """
    lease = acquire_lease(log, target, holder=holder, ttl_s=ttl_s, wait_s=wait_s)
    try:
        # Renewed every third of its time to live, so that one load longer than the
        # lease (a large model) does not let it lapse under a live deployer.
        renew = functools.partial(log.renew_lease, target, holder, ttl_s)
        with Heartbeat(renew, ttl_s / 3, f"lease-{target}"):
            yield lease
    finally:
        log.release_lease(target, holder)
