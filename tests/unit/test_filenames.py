"""Storage-safe names: the sender's name made harmless, never empty, bounded."""

from __future__ import annotations

import pytest
from mailroom.mime.filenames import MAX_NAME_BYTES, safe_filename


@pytest.mark.parametrize(
    ("original", "content_type", "expected"),
    [
        ("invoice.pdf", "application/pdf", "invoice.pdf"),
        ("../../etc/passwd", "text/plain", "passwd"),
        ("C:\\Users\\scan\\doc.pdf", "application/pdf", "doc.pdf"),
        ("a\x00b\x1fc\u202e.pdf", "application/pdf", "abc.pdf"),
        ('what?*<>|":.pdf', "application/pdf", "what_______.pdf"),
        ("..", "application/pdf", "attachment-3.pdf"),
        (None, "application/pdf", "attachment-3.pdf"),
        ("", "message/rfc822", "attachment-3.eml"),
        ("   ", "image/jpeg", "attachment-3.jpg"),
        ("CON.txt", "text/plain", "_CON.txt"),
        ("nul", "text/plain", "_nul"),
        (".hidden", "text/plain", "hidden"),
    ],
)
def test_safe_filename(original: str | None, content_type: str, expected: str) -> None:
    assert safe_filename(original, content_type, 3) == expected


def test_long_names_are_cut_to_the_byte_limit_keeping_the_extension() -> None:
    name = safe_filename("ä" * 400 + ".pdf", "application/pdf", 1)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name.endswith("ä.pdf")
