"""Builders for test emails: raw bytes put together by hand, as senders (and scanners) write them."""

from __future__ import annotations

import base64
import random
import struct

CRLF = "\r\n"


def pdf_bytes(size: int, seed: int = 1) -> bytes:
    """PDF-shaped incompressible bytes of exactly `size` bytes."""
    head, tail = b"%PDF-1.4\n", b"\n%%EOF\n"
    return head + random.Random(seed).randbytes(max(0, size - len(head) - len(tail))) + tail


def b64_lines(data: bytes, width: int = 76) -> str:
    """Base64 wrapped at `width` characters with CRLF, as MIME writers do."""
    encoded = base64.b64encode(data).decode("ascii")
    return CRLF.join(encoded[i : i + width] for i in range(0, len(encoded), width))


def headers(**fields: str) -> str:
    """A header section; `Message_ID` style names become `Message-ID`."""
    return "".join(f"{name.replace('_', '-')}: {value}{CRLF}" for name, value in fields.items())


def scanner_mail(
    attachments: list[tuple[str, bytes]],
    *,
    to: str = "inbox-7@in.mailroom.localhost",
    subject: str = "Scan from MFP-4020",
    text: str = "Please find the scanned document attached.",
    boundary: str = "----=_Part_0_1234.5678",
) -> bytes:
    """A multipart/mixed mail with a text body and base64 PDF (or other) attachments."""
    parts = [
        headers(
            From="Scanner <scanner@corp.example>",
            To=to,
            Subject=subject,
            Date="Fri, 27 Nov 2026 09:15:02 +0100",
            Message_ID="<scan-0001@corp.example>",
            MIME_Version="1.0",
            Content_Type=f'multipart/mixed; boundary="{boundary}"',
        ),
        CRLF,
        f"--{boundary}{CRLF}Content-Type: text/plain; charset=utf-8{CRLF}{CRLF}{text}{CRLF}",
    ]
    for name, data in attachments:
        parts.append(
            f'--{boundary}{CRLF}Content-Type: application/pdf; name="{name}"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}"
            f'Content-Disposition: attachment; filename="{name}"{CRLF}{CRLF}'
            f"{b64_lines(data)}{CRLF}"
        )
    parts.append(f"--{boundary}--{CRLF}")
    return "".join(parts).encode("utf-8")


def tnef(files: list[tuple[str, bytes]]) -> bytes:
    """A minimal TNEF stream (MS-OXTNEF) carrying `files` as attAttachTitle + attAttachData."""

    def attribute(level: int, attr_id: int, data: bytes) -> bytes:
        checksum = sum(data) & 0xFFFF
        return struct.pack("<BII", level, attr_id, len(data)) + data + struct.pack("<H", checksum)

    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += attribute(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    for name, data in files:
        out += attribute(2, 0x00069002, b"\x01\x00" + b"\xff" * 4 + b"\x00" * 8)  # attAttachRendData
        out += attribute(2, 0x00018010, name.encode("ascii") + b"\x00")  # attAttachTitle
        out += attribute(2, 0x0006800F, data)  # attAttachData
    return out
