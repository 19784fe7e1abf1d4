"""Open mode: a server that needs no token (every request is the local admin).

Open is an explicit state, not "no active token right now". A server is open only when
it was started open (`modelyard server` on loopback, or with `--insecure`, over a catalog
that has never held a token) and no token has been created since. The first token closes
it for good: revoking every token afterwards leaves a server where every request needs a
token (and none is valid), never an open one again.

While open, a request is served only when its `Host` names this machine (`localhost`,
`127.0.0.1` or any 127.x address, `[::1]`, with any port): a page of another site whose
name an attacker points at 127.0.0.1 (DNS rebinding) sends its own name as `Host`, and is
refused with 421. A server started open with `--insecure` on a non-loopback address also
accepts IP-address hosts (a rebinding page always comes with a name).
"""

from __future__ import annotations

import ipaddress

from modelyard.store.access import AccessLog

LOOPBACK_NAMES = frozenset({"localhost"})


class OpenMode:
    """Whether requests without a token are the local admin (see the module docstring)."""

    def __init__(self, started_open: bool, *, ip_hosts: bool = False) -> None:
        self._open = started_open
        self.ip_hosts = ip_hosts

    @property
    def may_be_open(self) -> bool:
        """False once the server is closed for good (no catalog read needed)."""
        return self._open

    def is_open(self, access: AccessLog) -> bool:
        """Open now: started open and the catalog has never held a token (revoked ones
        count: revoking the last token does not reopen the server)."""
        if self._open and access.tokens(include_revoked=True):
            self._open = False
        return self._open

    def allows_host(self, host: str | None) -> bool:
        """Whether an open server answers a request with this `Host` header."""
        name = host_name(host)
        if name is None:
            return False
        if name in LOOPBACK_NAMES:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        return address.is_loopback or self.ip_hosts


def host_name(host: str | None) -> str | None:
    """The name in a `Host` header without its port (`[::1]:8080` -> `::1`), lowercased;
    None when the header is missing or not of the form NAME[:PORT]."""
    if not host:
        return None
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not (rest[:1] == ":" and rest[1:].isdigit())):
            return None
        return name or None
    name, colon, port = host.partition(":")
    if colon and not port.isdigit():
        return None
    return name or None
