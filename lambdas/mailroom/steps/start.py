"""Starter: SES receipt notifications (SNS → SQS) → one execution per email, named by its SES id.

The envelope goes onto the email's status record *before* the execution starts, so Parse always
finds it; the execution's input is the object's address only (no recipient ever enters the history).
"""

from __future__ import annotations

from mailroom.envelope import Received
from mailroom.models import IncomingObject
from mailroom.ports import StatusStore, Workflow


def start(email: Received, *, workflow: Workflow, status: StatusStore, now: str) -> bool:
    """Record the email with its envelope, then start its execution; ``False`` for a repeated notification.

    StartExecution with the same name and input succeeds again while the first run is still going,
    so "new" is decided by the status record, which only the first delivery of the notification creates.
    """
    created = status.mark_received(
        email.message_id,
        received_at=email.received_at,
        execution_arn=workflow.execution_arn(email.message_id),
        envelope=email.envelope,
        now=now,
    )
    payload = IncomingObject(
        message_id=email.message_id, bucket=email.bucket, key=email.key, received_at=email.received_at
    )
    workflow.start(email.message_id, payload.model_dump(mode="json"))
    return created
