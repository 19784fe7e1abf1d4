"""`Timestamp`: a datetime that JSON shows as `datetime.isoformat()` gives it.

Pydantic writes UTC as `...Z`; the catalog's JSON (the CLI's `--json`, the audit log's
before/after documents) has always carried `...+00:00`, so results keep that form.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema


def _isoformat(value: datetime) -> str:
    return value.isoformat()


Timestamp = Annotated[
    datetime,
    PlainSerializer(_isoformat, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
