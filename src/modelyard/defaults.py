"""Defaults and vocabularies that the CLI's help texts show, kept apart from the modules
that use them so that `modelyard --help` imports none of those."""

from typing import Literal, get_args

DEFAULT_MAX_BODY_MB = 8  # the API's request body cap (`api.max_body_mb`)

Role = Literal["viewer", "maintainer", "admin"]  # an API token's role
ROLES: tuple[str, ...] = get_args(Role)

# The events a webhook may subscribe to (modelyard.yaml `webhooks:`, `modelyard webhook
# add --events`); store.access.WEBHOOK_EVENTS names the audit action behind each.
WEBHOOK_EVENT_NAMES = (
    "version.registered",
    "alias.moved",
    "version.yanked",
    "deployment.finished",
    "experiment.decided",
)
