"""Synthetic "scanner mails": multipart/mixed, a text+html note and three PDFs, sized to the byte."""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass

LINE = 76  # base64 characters per line (RFC 2045)
SHARES = (0.5, 0.3, 0.2)  # how the attachments divide the budget: scans of different lengths
PDF_HEAD = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
PDF_TAIL = b"\n%%EOF\n"
MIXED = "----=_Part_48213_1790215.1718101122334"
ALTERNATIVE = "----=_Part_48214_905331.1718101122334"

HEADER = (
    "Return-Path: <scanner@example.com>\r\n"
    "Received: from mfp-3f.example.com (mfp-3f.example.com [192.0.2.17])\r\n"
    "\tby inbound-smtp.eu-west-1.amazonaws.com with SMTP id q8r2l0b7c1\r\n"
    "\tfor <inbox@mail.example.org>; Tue, 11 Jun 2024 10:18:42 +0000 (UTC)\r\n"
    "X-SES-Spam-Verdict: PASS\r\n"
    "X-SES-Virus-Verdict: PASS\r\n"
    "Date: Tue, 11 Jun 2024 12:18:41 +0200\r\n"
    "From: Scanner 3rd floor <scanner@example.com>\r\n"
    "To: inbox@mail.example.org\r\n"
    "Message-ID: <1718101122334.48213.scanner@mfp-3f.example.com>\r\n"
    "Subject: Scanned from MFP-C3004 [3 documents]\r\n"
    "MIME-Version: 1.0\r\n"
    "X-Mailer: MFP-C3004 Scan to Email\r\n"
    f'Content-Type: multipart/mixed; boundary="{MIXED}"\r\n'
    "\r\n"
    "This is a multi-part message in MIME format.\r\n"
)
NOTE = (
    f"--{MIXED}\r\n"
    f'Content-Type: multipart/alternative; boundary="{ALTERNATIVE}"\r\n'
    "\r\n"
    f"--{ALTERNATIVE}\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: 7bit\r\n"
    "\r\n"
    "Scanned document(s) attached.\r\n"
    "Device: MFP-C3004 (3rd floor)\r\n"
    "Resolution: 300 dpi, colour\r\n"
    f"--{ALTERNATIVE}\r\n"
    "Content-Type: text/html; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: 7bit\r\n"
    "\r\n"
    "<html><body><p>Scanned document(s) attached.</p>\r\n"
    "<p>Device: MFP-C3004 (3rd floor)<br>Resolution: 300 dpi, colour</p></body></html>\r\n"
    f"--{ALTERNATIVE}--\r\n"
    "\r\n"
)
PART = (
    f"--{MIXED}\r\n"
    'Content-Type: application/pdf; name="{name}"\r\n'
    "Content-Transfer-Encoding: base64\r\n"
    'Content-Disposition: attachment; filename="{name}"\r\n'
    "\r\n"
)
CLOSE = f"--{MIXED}--\r\n"


@dataclass(frozen=True)
class ScannerMail:
    """A generated message and the sha256 of each attachment it carries, in order."""

    raw: bytes
    sha256: list[str]


def encoded_size(n: int) -> int:
    """Bytes of `n` bytes base64-encoded in CRLF-terminated 76-character lines."""
    chars = 4 * -(-n // 3)
    return chars + 2 * -(-chars // LINE)


def fitting(budget: int) -> int:
    """The largest decoded size whose encoding fits in `budget` bytes."""
    n = budget * 57 // 78  # 57 bytes make one full 76-character line plus CRLF
    while encoded_size(n + 1) <= budget:
        n += 1
    while n and encoded_size(n) > budget:
        n -= 1
    return n


def encode(data: bytes) -> bytes:
    """Base64 in CRLF-terminated 76-character lines."""
    text = base64.b64encode(data)
    return b"".join(text[i : i + LINE] + b"\r\n" for i in range(0, len(text), LINE))


def pdf(size: int, rng: random.Random) -> bytes:
    """A PDF-like file: header, incompressible pseudo-random body, trailer."""
    return PDF_HEAD + rng.randbytes(size - len(PDF_HEAD) - len(PDF_TAIL)) + PDF_TAIL


def scanner_mail(total: int, seed: int = 0) -> ScannerMail:
    """A scanner mail of at most `total` raw bytes (within a few bytes of it)."""
    names = [f"scan_{seed:02d}_{i + 1:04d}.pdf" for i in range(len(SHARES))]
    heads = [PART.format(name=name).encode() for name in names]
    fixed = len(HEADER) + len(NOTE) + sum(map(len, heads)) + len(CLOSE)
    rng = random.Random(seed)
    files = [pdf(fitting(int((total - fixed) * share)), rng) for share in SHARES]
    body = b"".join(head + encode(data) for head, data in zip(heads, files, strict=True))
    raw = HEADER.encode() + NOTE.encode() + body + CLOSE.encode()
    assert total - 1024 < len(raw) <= total, (len(raw), total)
    return ScannerMail(raw, [hashlib.sha256(data).hexdigest() for data in files])
