"""Inbox state: one inbox item per user, then the email's status is delivered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from mailroom import composition
from mailroom.models import Archived
from mailroom.observability import count, step
from mailroom.steps.inbox import deliver


@step("Inbox")
def handler(event: Mapping[str, Any]) -> dict[str, Any]:
    """Deliver the archived email to its users' inboxes."""
    email = Archived.model_validate(event)
    now = dt.datetime.now(dt.UTC)
    result = deliver(email, **composition.for_inbox(), now=now.isoformat(timespec="milliseconds"))
    count("Delivered" if result.status == "delivered" else "Duplicates")
    count("InboxItems", result.new_items)
    received = _timestamp(email.received_at)
    if received is not None:
        count("EndToEndLatency", (now - received).total_seconds() * 1000, unit=MetricUnit.Milliseconds)
    return result.model_dump(mode="json")


def _timestamp(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
