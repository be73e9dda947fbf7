"""Sample emails for the demo: what office scanners and people really send, and what goes wrong."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid


def pdf(pages: int = 1, *, seed: int = 1) -> bytes:
    """A small valid PDF (one text line per page), distinct per ``seed``."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    for i in range(pages):
        stream = f"BT /F1 18 Tf 72 720 Td (Scan {seed} page {i + 1}) Tj ET".encode()
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def png(width: int = 8, height: int = 8, *, shade: int = 128) -> bytes:
    """A small valid grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes([shade]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@dataclass(frozen=True)
class Sample:
    """One demo email and the outcome mailroom must reach for it."""

    name: str
    to: str
    data: bytes
    expected: str
    attachments: dict[str, bytes]


def _message(to: str, subject: str, sender: str = "scanner@office.example") -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Office Scanner <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain="office.example")
    return message


def demo_samples(mailbox: str, domain: str) -> list[Sample]:
    """The demo's emails: scanner PDF, several files, unknown recipient, malformed, one sent twice."""
    samples: list[Sample] = []

    scan = _message(mailbox, "Scanned document")
    scan.set_content("Scanned with the 3rd floor scanner.")
    scan_pdf = pdf(2, seed=7)
    scan.add_attachment(scan_pdf, maintype="application", subtype="pdf", filename="scan_0001.pdf")
    samples.append(
        Sample("scanner mail with a PDF", mailbox, scan.as_bytes(policy=SMTP), "delivered", {"scan_0001.pdf": scan_pdf})
    )

    several = _message(mailbox, "Invoices for March", sender="accounting@partner.example")
    several.set_content("Three files attached.")
    files = {"invoice-1.pdf": pdf(1, seed=11), "invoice-2.pdf": pdf(1, seed=12), "receipt.png": png(shade=40)}
    for name, content in files.items():
        subtype = "png" if name.endswith(".png") else "pdf"
        several.add_attachment(
            content, maintype="image" if subtype == "png" else "application", subtype=subtype, filename=name
        )
    samples.append(Sample("several attachments", mailbox, several.as_bytes(policy=SMTP), "delivered", files))

    stranger = f"nobody@{domain}"
    unknown = _message(stranger, "Is anyone there?")
    unknown.set_content("No mailbox has this address.")
    samples.append(Sample("unknown recipient", stranger, unknown.as_bytes(policy=SMTP), "unroutable", {}))

    flood = "".join(f"X-Flood-{i}: {'x' * 20}\r\n" for i in range(5000))
    malformed = f"From: broken@office.example\r\nTo: {mailbox}\r\nSubject: header flood\r\n{flood}\r\nbody\r\n"
    samples.append(Sample("malformed (header flood)", mailbox, malformed.encode(), "quarantined", {}))

    twice = _message(mailbox, "Sent twice (the scanner retried)")
    twice.set_content("Same Message-ID both times.")
    twice_pdf = pdf(1, seed=21)
    twice.add_attachment(twice_pdf, maintype="application", subtype="pdf", filename="retry.pdf")
    data = twice.as_bytes(policy=SMTP)
    samples.append(Sample("the same message, first time", mailbox, data, "delivered", {"retry.pdf": twice_pdf}))
    samples.append(Sample("the same message, second time", mailbox, data, "duplicate", {}))
    return samples
