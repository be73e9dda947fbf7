"""Who an email is for: the SMTP envelope as SES received it, from SES's receipt notification.

The stored MIME does not carry the envelope. Its headers (To, Cc, Delivered-To, X-Original-To,
``Received … for``) are written by the sender: routing by them loses Bcc'd users and hands mail to
addresses it was not sent to. SES's notification for the S3 action ("Contents of notifications for
Amazon SES email receiving") names ``receipt.recipients``: the RCPT TO addresses the receipt rule
matched. Those, and only those, decide who gets an email. ``mail.destination`` is header addresses
and is never read here.

Recipients are personal data: they live on the email's status record (CMK-encrypted), never in
execution input, output or history, and never in logs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mailroom.layout import SETUP_NOTIFICATION
from mailroom.sesformat import is_ses_message_id

VERDICT_NAMES: Final = ("spam", "virus", "spf", "dkim", "dmarc")
VERDICT_VALUES: Final = frozenset({"PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"})
SOURCE_SES: Final = "ses"
SOURCE_OPERATOR: Final = "operator"
MAX_RECIPIENTS: Final = 100  # SES accepts 50 per message; anything beyond twice that is not SES's
MAX_ADDRESS_LENGTH: Final = 320  # RFC 3696's 64 + 1 + 255; the router applies RFC 5321's tighter 254


@dataclass(frozen=True)
class Verdicts:
    """SES's spam, virus, SPF, DKIM and DMARC verdicts (``None``: not given)."""

    spam: str | None = None
    virus: str | None = None
    spf: str | None = None
    dkim: str | None = None
    dmarc: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """``{"spam": …, "virus": …, …}``."""
        return {name: getattr(self, name) for name in VERDICT_NAMES}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Verdicts:
        """The inverse of ``as_dict``; unknown names and non-text values are dropped."""
        return cls(**{n: str(values[n]) for n in VERDICT_NAMES if isinstance(values.get(n), str)})


@dataclass(frozen=True)
class Envelope:
    """The envelope recipients of one email and the verdicts SES gave it.

    ``source`` says who stated the recipients: ``ses`` (the receipt notification) or ``operator``
    (``mailroom replay ID --to``, for an email whose notification never came). ``verdicts`` is
    ``None`` when no notification gave them; the X-SES headers SES wrote into the MIME stand in.
    """

    recipients: tuple[str, ...]
    verdicts: Verdicts | None = None
    source: str = SOURCE_SES


@dataclass(frozen=True)
class Received:
    """One email SES stored and announced: where the object is, and its envelope."""

    message_id: str
    bucket: str
    key: str
    received_at: str
    envelope: Envelope


@dataclass(frozen=True)
class Skipped:
    """A queue message that is not an email to start (setup notification, retired S3 event, …)."""

    reason: str
    key: str = ""


class NotAnEmail(ValueError):
    """A queue message that is neither an SES notification nor something known to skip: poison."""


def read_notification(body: str, *, bucket: str, prefix: str) -> Received | Skipped:
    """The email an SQS message announces, raw (SES's JSON) or enveloped by SNS (raw delivery off).

    A body that is not JSON, or an SES ``Received`` notification that lacks what routing needs,
    raises ``NotAnEmail``: a poison message for the queue's redrive policy to move to the DLQ.
    """
    document = _json_object(body, "the message body")
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        document = _json_object(document["Message"], "the SNS message")
    elif document.get("Type") in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        return Skipped(f"SNS {document['Type']}")
    if "Records" in document or document.get("Event") == "s3:TestEvent":
        # Before envelope routing the queue took S3 events. One still queued at the changeover names
        # an email without its envelope: the sweep finds that email and records it ("no-envelope").
        return Skipped("S3 event notification (retired: mail is announced by SES's notification)")
    kind = document.get("notificationType")
    if kind == SETUP_NOTIFICATION:
        return Skipped("SES setup notification")
    if kind != "Received":
        raise NotAnEmail(f"notificationType {str(kind)[:40]!r} is not an SES receipt notification")
    mail, receipt = _section(document, "mail"), _section(document, "receipt")
    action = _section(receipt, "action")
    if action.get("type") != "S3":
        return Skipped(f"receipt action {str(action.get('type'))[:20]!r}, not S3")
    message_id = mail.get("messageId")
    if message_id == SETUP_NOTIFICATION or str(action.get("objectKey", "")).endswith(SETUP_NOTIFICATION):
        return Skipped("SES setup notification")
    if not isinstance(message_id, str) or not is_ses_message_id(message_id):
        raise NotAnEmail("mail.messageId is not an SES message id")
    key = action.get("objectKey")
    if action.get("bucketName") != bucket:
        return Skipped("an S3 action writing to another bucket", str(key or "")[:200])
    if key != prefix + message_id:
        raise NotAnEmail("receipt.action.objectKey is not the incoming prefix plus mail.messageId")
    timestamp = mail.get("timestamp") or receipt.get("timestamp")
    if not isinstance(timestamp, str) or not timestamp:
        raise NotAnEmail("mail.timestamp is missing")
    return Received(
        message_id=message_id,
        bucket=bucket,
        key=key,
        received_at=timestamp,
        envelope=Envelope(recipients=_recipients(receipt), verdicts=_verdicts(receipt), source=SOURCE_SES),
    )


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise NotAnEmail(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise NotAnEmail(f"{what} is not a JSON object")
    return value


def _section(parent: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise NotAnEmail(f"the notification has no {name} object")
    return value


def _recipients(receipt: Mapping[str, Any]) -> tuple[str, ...]:
    values = receipt.get("recipients")
    if not isinstance(values, list) or not values:
        raise NotAnEmail("receipt.recipients is missing or empty")
    if len(values) > MAX_RECIPIENTS:
        raise NotAnEmail(f"receipt.recipients has {len(values)} entries, more than SES sends")
    if not all(isinstance(v, str) and 0 < len(v) <= MAX_ADDRESS_LENGTH for v in values):
        raise NotAnEmail("receipt.recipients has an entry that is not an address")
    return tuple(values)


def _verdicts(receipt: Mapping[str, Any]) -> Verdicts:
    found: dict[str, str] = {}
    for name in VERDICT_NAMES:
        verdict = receipt.get(f"{name}Verdict")
        status = verdict.get("status") if isinstance(verdict, dict) else None
        if isinstance(status, str) and status in VERDICT_VALUES:
            found[name] = status
    return Verdicts(**found)
