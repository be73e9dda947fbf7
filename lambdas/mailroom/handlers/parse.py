"""Parse state: plaintext MIME → staged files, resolved mailboxes and a manifest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailroom import composition
from mailroom.models import Decrypted
from mailroom.observability import count, step
from mailroom.steps.parse import parse


@step("Parse")
def handler(event: Mapping[str, Any]) -> dict[str, Any]:
    """Parse the decrypted email and route it."""
    result = parse(Decrypted.model_validate(event), **composition.for_parse())
    count("Attachments", result.attachments)
    return result.model_dump(mode="json")
