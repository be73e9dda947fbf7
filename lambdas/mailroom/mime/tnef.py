"""TNEF (`winmail.dat`): Outlook's container, unpacked into the files it carries (via tnefparse)."""

from __future__ import annotations

import logging

from tnefparse.tnef import TNEF

from mailroom.errors import DecompressionLimitError

_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
logging.getLogger("tnefparse").setLevel(logging.ERROR)  # it logs every unknown attribute


def is_tnef(content_type: str, filename: str | None) -> bool:
    """Whether a part is a TNEF container, by type or by its conventional name."""
    if content_type in ("application/ms-tnef", "application/vnd.ms-tnef"):
        return True
    return (filename or "").strip().lower() == "winmail.dat"


def extract_tnef(data: bytes, limit: int, defects: list[str]) -> list[tuple[str | None, bytes]] | None:
    """The (name, bytes) of each file in a TNEF container; None when it is not one we can read."""
    if not data.startswith(_TNEF_SIGNATURE):
        return None
    try:
        tnef = TNEF(data, do_checksum=False)
    except Exception:  # noqa: BLE001 - tnefparse raises assorted errors on damaged input
        defects.append("TnefUnreadableDefect")
        return None
    files: list[tuple[str | None, bytes]] = []
    total = 0
    for attachment in tnef.attachments:
        payload = _exact(data, attachment.data if isinstance(attachment.data, bytes) else b"")
        total += len(payload)
        if total > limit:
            raise DecompressionLimitError(f"TNEF content exceeds {limit} bytes")
        try:
            name = attachment.long_filename()
        except Exception:  # noqa: BLE001
            name = None
        if isinstance(name, bytes):
            name = name.decode("utf-8", errors="replace")
        files.append(((name or "").strip("\x00 ") or None, payload))
    return files


def _exact(container: bytes, stripped: bytes) -> bytes:
    """The attachment's bytes at their recorded length.

    tnefparse strips trailing NUL bytes from MAPI binary values, which truncates OLE documents.
    Such a value is stored as a little-endian uint32 length followed by the bytes, so we find the
    bytes in the container and read the length written before them.
    """
    if not stripped:
        return stripped
    probe = stripped[:64]
    pos = container.find(probe)
    while pos >= 4:
        length = int.from_bytes(container[pos - 4 : pos], "little")
        if length >= len(stripped) and container[pos : pos + len(stripped)] == stripped:
            return container[pos : pos + length]
        pos = container.find(probe, pos + 1)
    return stripped
