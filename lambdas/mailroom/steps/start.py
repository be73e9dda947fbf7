"""Starter: S3 event notifications (delivered by SQS) → one execution per email, named by its SES id."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from mailroom.layout import SETUP_NOTIFICATION
from mailroom.models import IncomingObject
from mailroom.ports import StatusStore, Workflow
from mailroom.sesformat import is_ses_message_id


@dataclass(frozen=True)
class Skipped:
    """An S3 event that is not an email (test event, SES setup notification, foreign key)."""

    reason: str
    key: str = ""


def incoming_objects(body: str, *, prefix: str) -> list[IncomingObject | Skipped]:
    """The emails an SQS message body names; anything else is ``Skipped`` with why.

    A body that is not JSON or not an S3 notification raises ``ValueError``: it is a poison message
    for the queue's redrive policy to move to the DLQ, not something to guess about.
    """
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("the message body is not a JSON object")
    if document.get("Event") == "s3:TestEvent":
        return [Skipped("s3:TestEvent")]
    records = document.get("Records")
    if not isinstance(records, list):
        raise ValueError("the message body is not an S3 event notification (no Records)")
    return [_incoming(record, prefix) for record in records]


def _incoming(record: Mapping[str, Any], prefix: str) -> IncomingObject | Skipped:
    event_name = str(record.get("eventName", ""))
    if not event_name.startswith("ObjectCreated:"):
        return Skipped(f"event {event_name or '?'}")
    s3 = record["s3"]
    key = unquote_plus(s3["object"]["key"])  # S3 event keys are URL-encoded, spaces as '+'
    if not key.startswith(prefix):
        return Skipped("outside the incoming prefix", key)
    name = key[len(prefix) :]
    if name == SETUP_NOTIFICATION:
        return Skipped("SES setup notification", key)
    if not is_ses_message_id(name):
        return Skipped("not an SES message id", key)
    return IncomingObject(
        message_id=name,
        bucket=s3["bucket"]["name"],
        key=key,
        received_at=str(record.get("eventTime", "")),
        size=int(s3["object"].get("size", 0) or 0),
    )


def start(email: IncomingObject, *, workflow: Workflow, status: StatusStore, now: str) -> bool:
    """Start the email's execution and record it as received; ``False`` for a repeated event.

    StartExecution with the same name and input succeeds again while the first run is still going,
    so "new" is decided by the status record, which only the first delivery of the event creates.
    """
    execution_arn, started = workflow.start(email.message_id, email.model_dump(mode="json"))
    created = status.mark_received(
        email.message_id, received_at=email.received_at, execution_arn=execution_arn, now=now
    )
    return started and created
