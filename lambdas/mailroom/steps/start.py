"""Starter: SES receipt notifications (SNS → SQS) → one execution per email, named by its SES id.

The envelope goes onto the email's status record *before* the execution starts, so Parse always
finds it; the execution's input is the object's address only (no recipient ever enters the history).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mailroom.envelope import Received, Skipped, read_notification
from mailroom.models import IncomingObject
from mailroom.ports import StatusStore, Workflow


@dataclass(frozen=True)
class Announced:
    """What one queue message came to: an execution started, one that existed already, or a skip."""

    kind: Literal["started", "existed", "skipped"]
    message_id: str | None = None
    recipients: int = 0
    reason: str | None = None
    key: str = ""

    def log_fields(self) -> dict[str, Any]:
        """Identifiers and counts for the log line (never an address)."""
        if self.kind == "skipped":
            return {"reason": self.reason, "key": self.key}
        return {"message_id": self.message_id, "recipients": self.recipients}


def announce(body: str, *, bucket: str, prefix: str, workflow: Workflow, status: StatusStore, now: str) -> Announced:
    """Handle one queue message: an SES notification starts (or finds) its email's execution.

    A message that is no email to start is skipped with why; one that cannot be read raises
    ``NotAnEmail`` (poison: the queue's redrive policy moves it to the DLQ).
    """
    item = read_notification(body, bucket=bucket, prefix=prefix)
    if isinstance(item, Skipped):
        return Announced("skipped", reason=item.reason, key=item.key)
    started = start(item, workflow=workflow, status=status, now=now)
    return Announced("started" if started else "existed", item.message_id, len(item.envelope.recipients))


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
