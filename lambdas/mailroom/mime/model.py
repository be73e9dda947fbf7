"""What parsing an email yields: small metadata, with attachment bytes behind a `Content`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from mailroom.envelope import Verdicts as Verdicts  # the same five verdicts SES's notification gives
from mailroom.mime.content import Content


@dataclass(frozen=True)
class Attachment:
    """One file of the email: metadata, and its decoded bytes in `content` (None if not kept)."""

    index: int
    filename: str | None
    safe_filename: str
    content_type: str
    size: int
    sha256: str
    inline: bool
    content_id: str | None
    nested_message: bool
    content: Content | None = field(default=None, repr=False, compare=False)

    def to_contract(self) -> dict[str, Any]:
        """The attachment object of the `mailroom parse --json` contract."""
        return {
            "filename": self.filename,
            "safe_filename": self.safe_filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "inline": self.inline,
            "content_id": self.content_id,
            "nested_message": self.nested_message,
        }


@dataclass(frozen=True)
class ParsedEmail:
    """Headers, bodies, verdicts, candidate recipients and attachments of one email."""

    message_id: str | None
    subject: str | None
    date: dt.datetime | None
    from_: list[tuple[str, str]]
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    reply_to: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[Attachment]
    defects: list[str]
    verdicts: Verdicts
    recipients: list[str]
    envelope_recipients: list[str] = field(default_factory=list)

    def to_contract(self) -> dict[str, Any]:
        """The JSON object of the `mailroom parse --json` contract (shared/corpora/README.md)."""
        return {
            "message_id": self.message_id,
            "subject": self.subject,
            "date": self.date.isoformat() if self.date else None,
            "from": [addr for _, addr in self.from_],
            "to": [addr for _, addr in self.to],
            "cc": [addr for _, addr in self.cc],
            "text": self.text,
            "html": self.html,
            "defects": self.defects,
            "attachments": [a.to_contract() for a in self.attachments],
            "verdicts": {
                "spam": self.verdicts.spam,
                "virus": self.verdicts.virus,
                "spf": self.verdicts.spf,
                "dkim": self.verdicts.dkim,
                "dmarc": self.verdicts.dmarc,
            },
            "recipients": self.recipients,
        }
