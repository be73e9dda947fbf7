"""SES's receipt notification for an S3 action with a topic, as local mode publishes it.

The JSON follows AWS's "Contents of notifications for Amazon SES email receiving" and its examples:
``notificationType``; ``mail`` {timestamp, source, messageId, destination, headersTruncated, headers,
commonHeaders}; ``receipt`` {timestamp, processingTimeMillis, recipients, spamVerdict, virusVerdict,
spfVerdict, dkimVerdict, dmarcVerdict, action {type "S3", topicArn, bucketName, objectKeyPrefix,
objectKey}}. ``receipt.recipients`` is the SMTP envelope (RCPT TO) the rule matched;
``mail.destination`` the To/Cc/Bcc header addresses, which mailroom never routes by.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any, Final

HEADERS_LIMIT: Final = 10 * 1024  # SES truncates the header list of a notification beyond 10 KB
_VERDICTS: Final = ("spam", "virus", "spf", "dkim", "dmarc")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: object) -> str:
    # Raw 8-bit header bytes arrive as surrogate escapes: SNS carries UTF-8 text only.
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _headers(message: bytes) -> tuple[list[dict[str, str]], bool, Any]:
    parsed = BytesHeaderParser(policy=compat32).parsebytes(message)
    headers: list[dict[str, str]] = []
    size = 0
    for name, value in parsed.items():
        entry = {"name": _text(name), "value": _text(value)}
        size += len(entry["name"]) + len(entry["value"])
        if size > HEADERS_LIMIT:
            return headers, True, parsed
        headers.append(entry)
    return headers, False, parsed


def _addresses(parsed: Any, *names: str) -> list[str]:
    values = [_text(v) for name in names for v in (parsed.get_all(name) or [])]
    return [address for _, address in getaddresses(values) if address]


def ses_notification(
    *,
    message_id: str,
    message: bytes,
    mail_from: str,
    recipients: Sequence[str],
    topic_arn: str,
    bucket: str,
    prefix: str,
    received_at: datetime,
    stored_at: datetime | None = None,
    verdicts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The notification SES publishes once ``<prefix><message_id>`` is stored."""
    headers, truncated, parsed = _headers(message)
    stored_at = stored_at or datetime.now(UTC)
    given = {"spam": "PASS", "virus": "PASS", "spf": "GRAY", "dkim": "GRAY", "dmarc": "GRAY", **(verdicts or {})}
    common: dict[str, Any] = {"returnPath": mail_from}
    for key, name in (("from", "From"), ("to", "To"), ("cc", "Cc")):
        if values := parsed.get_all(name):
            common[key] = [_text(v) for v in values]
    for key, name in (("date", "Date"), ("messageId", "Message-ID"), ("subject", "Subject")):
        if (value := parsed.get(name)) is not None:
            common[key] = _text(value)
    return {
        "notificationType": "Received",
        "mail": {
            "timestamp": _iso(received_at),
            "source": mail_from,
            "messageId": message_id,
            "destination": _addresses(parsed, "To", "Cc", "Bcc"),
            "headersTruncated": truncated,
            "headers": headers,
            "commonHeaders": common,
        },
        "receipt": {
            "timestamp": _iso(received_at),
            "processingTimeMillis": max(0, int((stored_at - received_at).total_seconds() * 1000)),
            "recipients": list(recipients),
            **{f"{name}Verdict": {"status": given[name]} for name in _VERDICTS},
            "action": {
                "type": "S3",
                "topicArn": topic_arn,
                "bucketName": bucket,
                "objectKeyPrefix": prefix,
                "objectKey": prefix + message_id,
            },
        },
    }


def publish(sns: Any, topic_arn: str, notification: Mapping[str, Any]) -> str:
    """Publish ``notification`` to the topic as SES does (JSON, subject line as SES writes it); the SNS id."""
    response = sns.publish(
        TopicArn=topic_arn,
        Subject="Amazon SES Email Receipt Notification",
        Message=json.dumps(notification, separators=(",", ":")),
    )
    return str(response["MessageId"])
