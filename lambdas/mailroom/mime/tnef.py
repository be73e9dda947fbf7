"""TNEF (`winmail.dat`): Outlook's container, unpacked into the files it carries (via tnefparse)."""

from __future__ import annotations

import logging

from tnefparse.tnef import TNEF

from mailroom.errors import DecompressionLimitError, NestingTooDeepError

_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
logging.getLogger("tnefparse").setLevel(logging.ERROR)  # it logs every unknown attribute

# tnefparse trusts the counts a container declares and copies the rest of the stream for every
# attribute: a 100-byte container can ask for 4 billion MAPI values, a few MB of empty attributes
# take minutes. `_TnefCost` walks the container first, as tnefparse will, and refuses one whose
# unpacking would exceed these (a real winmail.dat needs a few thousand reads).
MAX_TNEF_READS = 100_000  # attributes, MAPI properties, values and recipient rows, nested messages too
MAX_TNEF_COPIED = 32 << 30  # bytes tnefparse copies (the stream's remainder once per attribute): seconds
MAX_TNEF_DEPTH = 32  # embedded messages inside embedded messages (as Limits.max_depth for MIME)


def is_tnef(content_type: str, filename: str | None) -> bool:
    """Whether a part is a TNEF container, by type or by its conventional name."""
    if content_type in ("application/ms-tnef", "application/vnd.ms-tnef"):
        return True
    return (filename or "").strip().lower() == "winmail.dat"


def extract_tnef(data: bytes, limit: int, defects: list[str]) -> list[tuple[str | None, bytes]] | None:
    """The (name, bytes) of each file in a TNEF container; None when it is not one we can read."""
    if not data.startswith(_TNEF_SIGNATURE):
        return None
    _TnefCost().container(data, 0)
    try:
        tnef = TNEF(data, do_checksum=False)
    except Exception:  # noqa: BLE001 - tnefparse raises assorted errors on damaged input
        defects.append("TnefUnreadableDefect")
        return None
    files: list[tuple[str | None, bytes]] = []
    total = 0
    cursor = 0  # attachments are stored in order: each one's bytes lie after the previous one's
    for attachment in tnef.attachments:
        payload, cursor = _exact(data, attachment.data if isinstance(attachment.data, bytes) else b"", cursor)
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


def _exact(container: bytes, stripped: bytes, start: int) -> tuple[bytes, int]:
    """The attachment's bytes at their recorded length, and the offset after them.

    tnefparse strips trailing NUL bytes from MAPI binary values, which truncates OLE documents.
    Such a value is stored as a little-endian uint32 length followed by the bytes, so we find the
    bytes in the container and read the length written before them. The search starts after the
    previous attachment: from the start, a small attachment whose bytes begin another, larger one
    would be read as that one (a 1 MB message unpacked into 150 copies of a 1 MB file).
    """
    if not stripped:
        return stripped, start
    probe = stripped[:64]
    pos = container.find(probe, start)
    while pos >= 4:
        length = int.from_bytes(container[pos - 4 : pos], "little")
        if length >= len(stripped) and container[pos : pos + len(stripped)] == stripped:
            return container[pos : pos + length], pos + length
        pos = container.find(probe, pos + 1)
    return stripped, start


_LEVEL_ATTACHMENT = 2
_ATT_MAPI_PROPS, _ATT_RECIPIENT_TABLE, _ATT_ATTACHMENT = 0x9003, 0x9004, 0x9005
_PTYPE_CLASS, _PTYPE_STRING = 0x1, 0x7
_PR_ATTACH_DATA_OBJ = 0x3701
_IMESSAGE_SIG = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
_MV_FLAG, _GUID_FLAG = 0x1000, 0x8000
_SHORT_TYPES = (0x0002, 0x000B)
_FIXED_SIZES = {0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8}
_FIXED_SIZES |= {0x0014: 8, 0x0040: 8, 0x0048: 16}
_VARIABLE_TYPES = (0x001E, 0x001F, 0x000D, 0x0102, 0x0000)  # strings, object, binary, unspecified
_BINARY_TYPES = (0x000D, 0x0102, 0x0000)


class _Stop(Exception):
    """tnefparse would raise here (and so stop cheaply): nothing further to count."""


def _u16(data: bytes, offset: int) -> int:
    if offset + 2 > len(data):
        raise _Stop
    return int.from_bytes(data[offset : offset + 2], "little")


def _u32(data: bytes, offset: int) -> int:
    if offset + 4 > len(data):
        raise _Stop
    return int.from_bytes(data[offset : offset + 4], "little")


class _TnefCost:
    """Counts the reads and copies tnefparse 1.4 makes unpacking a container, following its loops."""

    def __init__(self) -> None:
        self.reads = 0
        self.copied = 0

    def charge(self, reads: int, copied: int = 0) -> None:
        self.reads += reads
        self.copied += copied
        if self.reads > MAX_TNEF_READS:
            raise DecompressionLimitError(f"TNEF container declares more than {MAX_TNEF_READS} attributes and values")
        if self.copied > MAX_TNEF_COPIED:
            raise DecompressionLimitError(f"unpacking the TNEF container would copy more than {MAX_TNEF_COPIED} bytes")

    def container(self, data: bytes, depth: int) -> None:
        """TNEF.__init__: one object per attribute, each made from a copy of the stream's remainder."""
        if depth > MAX_TNEF_DEPTH:
            raise NestingTooDeepError(f"TNEF embedded messages nest deeper than {MAX_TNEF_DEPTH}")
        size, offset = len(data), 6
        try:
            while offset + 12 < size:
                self.charge(1, size - offset)
                level, name, kind = data[offset], _u16(data, offset + 1), _u16(data, offset + 3)
                length = min(size - offset, _u32(data, offset + 5) + 11)
                body = data[offset + 9 : offset + length - 2]
                if level == _LEVEL_ATTACHMENT:
                    if name == _ATT_ATTACHMENT:
                        self.mapi(body, 0, depth)
                elif name == _ATT_MAPI_PROPS:
                    self.mapi(body, 0, depth)
                elif name == _ATT_RECIPIENT_TABLE and kind not in (_PTYPE_CLASS, _PTYPE_STRING):
                    rows, row_offset = _u32(body, 0), 4
                    for _ in range(rows):
                        self.charge(1)
                        row_offset = self.mapi(body, row_offset, depth)
                offset += length
        except _Stop:
            return

    def mapi(self, data: bytes, offset: int, depth: int) -> int:
        """decode_mapi: its loops run as often as the data declares, also past the data's end."""
        count = _u32(data, offset)  # outside decode_mapi's try: a short read ends the whole parse
        offset += 4
        self.charge(count)
        try:
            for _ in range(count):
                if offset >= len(data):
                    break  # the remaining iterations only `continue` (charged above)
                kind, name = _u16(data, offset), _u16(data, offset + 2)
                offset += 4
                if name >= _GUID_FLAG:
                    offset += 16
                    named = _u32(data, offset)
                    offset += 4
                    if named == 0:
                        offset += 4
                    else:
                        iid = _u32(data, offset)
                        offset += 4 + iid + (-iid % 4)
                multi = None
                if kind & _MV_FLAG:
                    kind ^= _MV_FLAG
                    multi = _u32(data, offset)
                    offset += 4
                values = multi or 1
                self.charge(values)
                items: list[bytes] = []
                for _ in range(values):
                    offset = self.value(data, offset, kind, multi, items)
                if values % 2 and kind in _SHORT_TYPES:
                    offset += 2
                if name == _PR_ATTACH_DATA_OBJ and kind in _BINARY_TYPES:
                    embedded = b"".join(item.rstrip(b"\x00") for item in items)
                    if embedded.startswith(_IMESSAGE_SIG + _TNEF_SIGNATURE):
                        self.charge(0, len(embedded))
                        self.container(embedded[len(_IMESSAGE_SIG) :], depth + 1)
        except _Stop:
            pass  # decode_mapi catches its own errors and returns what it has
        return offset

    def value(self, data: bytes, offset: int, kind: int, multi: int | None, items: list[bytes]) -> int:
        """parse_property: fixed-size values are sliced (no read, so no end), the others are counted."""
        if kind in _FIXED_SIZES:
            return offset + _FIXED_SIZES[kind]
        if kind not in _VARIABLE_TYPES:
            raise _Stop  # an unknown type raises in tnefparse
        count = 1 if multi else _u32(data, offset)
        offset += 0 if multi else 4
        self.charge(count)
        for _ in range(count):
            length = _u32(data, offset)
            offset += 4
            length += -length % 4
            self.charge(0, min(length, len(data) - offset))
            if kind in _BINARY_TYPES:
                items.append(data[offset : offset + length])
            offset += length
        return offset
