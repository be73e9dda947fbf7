"""Parse raw email into headers, bodies and attachments (see `parse_email`)."""

from mailroom.mime.model import Attachment, ParsedEmail, Verdicts
from mailroom.mime.parser import Limits, parse_email

__all__ = ["Attachment", "Limits", "ParsedEmail", "Verdicts", "parse_email"]
