"""The bombs: inputs built to exhaust the parser's time or memory, and the typed error each must raise.

Shared by ``test_security_bombs.py`` (each refused with its error, within a memory bound, under a
hang guard) and ``bench/bench_bombs.py`` (how long each takes: speed is measured in bench/ only).
The cases marked *within the limits* are no bombs by size: they carry junk that the standard
library's parsers, or tnefparse, once took minutes to hours to read.

The largest inputs run at full size with ``MAILROOM_SECURITY_FULL=1`` (``make security``); CI runs
them smaller (each still took seconds to hours before the fixes), and the two-part gzip case only there.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from mail_factory import CRLF, b64_lines, tnef
from mailroom import errors
from mailroom.mime import Limits, ParsedEmail, parse_email
from mailroom.mime.parser import MIB

FULL = os.environ.get("MAILROOM_SECURITY_FULL", "") not in ("", "0")
LIMITS = Limits()
DOMAIN = "in.mailroom.localhost"


def message(content_type: str, body: bytes, *extra: str) -> bytes:
    head = "".join(f"{line}{CRLF}" for line in ("From: a@example.com", f"To: scans@{DOMAIN}", *extra))
    return f"{head}Content-Type: {content_type}{CRLF}{CRLF}".encode() + body


def attachment_part(boundary: str, content_type: str, body: bytes, encoding: str = "base64") -> bytes:
    return (
        (
            f"--{boundary}{CRLF}Content-Type: {content_type}{CRLF}Content-Transfer-Encoding: {encoding}{CRLF}{CRLF}"
        ).encode()
        + body
        + CRLF.encode()
    )


def tnef_message(container: bytes) -> bytes:
    part = attachment_part("t", "application/ms-tnef; name=winmail.dat", b64_lines(container).encode())
    return message('multipart/mixed; boundary="t"', part + b"--t--\r\n")


def tnef_attribute(level: int, attribute: int, data: bytes) -> bytes:
    return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


# --------------------------------------------------------------------------- the bombs


def oversize() -> bytes:
    return message("application/octet-stream", b"x" * (LIMITS.max_message_bytes + 1 - 80))


def tnef_value_count_bomb() -> bytes:
    # One attachment whose MAPI properties declare 2^32-1 values of a 2-byte type, in 98 bytes: tnefparse
    # made an object per value (4 million took 13 s and 640 MB; all of them, hours and hundreds of GB).
    mapi = struct.pack("<IHHI", 1, 0x1002, 0x0001, 0xFFFFFFFF)
    return tnef_message(tnef([("a.txt", b"x")]) + tnef_attribute(2, 0x00069005, mapi))


def tnef_attribute_flood() -> bytes:
    # 300,000 empty attributes before 3 MB of padding: tnefparse copies the rest of the stream for each
    # attribute (quadratic: 40,000 over 4 MB took 36 s).
    flood = tnef_attribute(2, 0x00069999, b"") * 300_000
    return tnef_message(tnef([("a.txt", b"x")]) + flood + bytes(3 * MIB))


def tnef_nesting() -> bytes:
    # Embedded messages (PR_ATTACH_DATA_OBJ) 40 deep; tnefparse parses each one recursively.
    container = tnef([("leaf.txt", b"leaf")])
    signature = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
    for _ in range(40):
        value = signature + container
        mapi = struct.pack("<IHHII", 1, 0x000D, 0x3701, 1, len(value)) + value + b"\x00" * (-len(value) % 4)
        container = (
            struct.pack("<IH", 0x223E9F78, 1)
            + tnef_attribute(2, 0x00069002, b"\x01\x00" + b"\xff" * 4 + b"\x00" * 8)
            + tnef_attribute(2, 0x00018010, b"message\x00")
            + tnef_attribute(2, 0x00069005, mapi)
        )
    return tnef_message(container)


def tnef_shared_prefix() -> bytes:
    # 150 five-byte files whose bytes begin a 1 MB file: each was read back as the 1 MB file (158 MB from 1.4 MB).
    big = b"PROBE" + bytes(range(256)) * 4096
    return tnef_message(tnef([("big.bin", big)] + [(f"{i}.bin", b"PROBE") for i in range(150)]))


def gzip_stream(total: int) -> bytes:
    deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # level 1: 230 to 1, built 3x faster
    return b"".join(deflate.compress(bytes(MIB)) for _ in range(total // MIB)) + deflate.flush()


GZIP_BOMB_MIB = 1024 if FULL else 256  # the limit is 200 MiB of decoded content


def gzip_bomb() -> bytes:
    # Zeros: decompressing straight to the limit held 420 MB (1 GiB in 1 MB at level 9) before refusing.
    return message("application/octet-stream; name=bomb.bin", b64_lines(gzip_stream(GZIP_BOMB_MIB * MIB)).encode(),
                   "Content-Transfer-Encoding: x-gzip64")  # fmt: skip


def gzip_parts_over_the_decoded_limit() -> bytes:
    # Two parts of 120 MB each: each under the limit, together over the 200 MB of decoded content.
    part = attachment_part("g", "application/octet-stream; name=p.bin", b64_lines(gzip_stream(120 * MIB)).encode(),
                           "x-gzip64")  # fmt: skip
    return message('multipart/mixed; boundary="g"', part * 2 + b"--g--\r\n")


def multipart_nesting() -> bytes:
    depth = 1000
    opening = "".join(
        f'--b{i}{CRLF}Content-Type: multipart/mixed; boundary="b{i + 1}"{CRLF}{CRLF}' for i in range(depth)
    )
    return message('multipart/mixed; boundary="b0"', (opening + f"--b{depth}{CRLF}{CRLF}leaf{CRLF}").encode())


def rfc822_nesting(encoding: str, depth: int) -> Callable[[], bytes]:
    def build() -> bytes:
        inner = b"From: innermost@example.com\r\nSubject: innermost\r\n\r\nleaf\r\n"
        for level in range(depth):
            body = b64_lines(inner).encode() if encoding == "base64" else inner
            inner = (
                f"From: level{level}@example.com{CRLF}Subject: level {level}{CRLF}"
                f"Content-Type: message/rfc822{CRLF}Content-Transfer-Encoding: {encoding}{CRLF}{CRLF}"
            ).encode() + body
        return inner

    return build


ATTACHMENTS = 10_000 if FULL else 6_000  # both over the limits: 5,000 parts, 1,000 attachments


def many_mime_parts() -> bytes:
    parts = b"".join(
        attachment_part("m", f"application/pdf; name=f{i}.pdf", b"JVBERi0=", "base64") for i in range(ATTACHMENTS)
    )
    return message('multipart/mixed; boundary="m"', parts + b"--m--\r\n")


def many_uuencoded_files() -> bytes:
    files = b"".join(b"begin 644 f%d.txt\r\n#86)C\r\n`\r\nend\r\n" % i for i in range(ATTACHMENTS))
    return message("text/plain", b"Files:\r\n" + files)


TNEF_FILES = 10_000 if FULL else 2_000  # tnefparse makes several objects per file: slow under tracemalloc


def many_tnef_files() -> bytes:
    return tnef_message(tnef([(f"f{i}.txt", b"x") for i in range(TNEF_FILES)]))


def header_field_flood() -> bytes:
    return "".join(f"X-Flood-{i}: v{CRLF}" for i in range(LIMITS.header.max_fields + 1)).encode() + b"\r\nbody"


def header_bytes_flood() -> bytes:
    return b"Subject: " + b"x" * (LIMITS.header.max_bytes + 1) + b"\r\nFrom: a@example.com\r\n\r\nbody"


ADDRESSES = 42_000 if FULL else 3_000  # 1 MB or 65 KB of To


def to_addresses() -> bytes:
    addresses = ", ".join(f"user{i}@host.example" for i in range(ADDRESSES))
    return f"From: a@example.com{CRLF}To: {addresses}{CRLF}{CRLF}body".encode()


DOTTED_KB = 960 if FULL else 100  # 280 KB took 38 s before the fix


def to_dotted_junk() -> bytes:
    return f"From: a@example.com{CRLF}To: {'a.' * (DOTTED_KB * 512)}@x{CRLF}{CRLF}body".encode()


def to_nested_comments() -> bytes:
    return f"From: a@example.com{CRLF}To: {'(' * 20_000}{CRLF}{CRLF}body".encode()


def content_type_quoted_semicolons() -> bytes:
    return message(f'text/plain; name="{";" * 900_000}"', b"body")


SEMICOLON_PARTS = 4_900 if FULL else 500


def parts_with_quoted_semicolons() -> bytes:
    # Parts each with an 8 KB Content-Type of quoted semicolons (4,900 make 39 MB): every parameter
    # lookup rescanned the value once per semicolon.
    value = f'text/plain; x="{";" * 8000}"'
    parts = "".join(f"--q{CRLF}Content-Type: {value}{CRLF}{CRLF}x{CRLF}" for _ in range(SEMICOLON_PARTS))
    return message('multipart/mixed; boundary="q"', (parts + f"--q--{CRLF}").encode())


def subject_encoded_words_1mb() -> bytes:
    return f"From: a@example.com{CRLF}Subject: {'=?utf-8?q?a?= ' * 70_000}{CRLF}{CRLF}body".encode()


BLANK_MIB = 39 if FULL else 4  # 40 KB took 25 s before the fix


def uuencode_blank_run() -> bytes:
    # A "begin" line and then a run of blanks: the line pattern backtracked quadratically.
    return message("text/plain", b"begin 644 a" + b" " * (BLANK_MIB * MIB) + b"x\r\n")


@dataclass(frozen=True)
class Bomb:
    """An input, and the error it must raise (None: a result is right, within the bounds)."""

    build: Callable[[], bytes]
    error: type[errors.MailroomError] | None
    full_only: bool = False


BOMBS = {
    "oversize: 40 MiB + 1 byte": Bomb(oversize, errors.MessageTooLargeError),
    "TNEF: 2^32-1 MAPI values declared in 98 bytes": Bomb(tnef_value_count_bomb, errors.DecompressionLimitError),
    "TNEF: 300,000 empty attributes + 3 MB": Bomb(tnef_attribute_flood, errors.DecompressionLimitError),
    "TNEF: embedded messages 40 deep": Bomb(tnef_nesting, errors.NestingTooDeepError),
    "TNEF: 150 files sharing a 1 MB file's prefix": Bomb(tnef_shared_prefix, None),
    f"x-gzip64: {GZIP_BOMB_MIB} MiB of zeros": Bomb(gzip_bomb, errors.DecompressionLimitError),
    "x-gzip64: 2 parts of 120 MB (decoded limit 200 MB)": Bomb(
        gzip_parts_over_the_decoded_limit, errors.MessageTooLargeError, full_only=True
    ),
    "multipart nested 1,000 deep": Bomb(multipart_nesting, errors.NestingTooDeepError),
    "message/rfc822 nested 1,000 deep (7bit)": Bomb(rfc822_nesting("7bit", 1000), None),
    # base64 at each level grows the message by a third per level: 30 levels make 4 MB
    "message/rfc822 nested 30 deep (base64 at each level)": Bomb(rfc822_nesting("base64", 30), None),
    f"{ATTACHMENTS:,} attachments as MIME parts": Bomb(many_mime_parts, errors.TooManyAttachmentsError),
    f"{ATTACHMENTS:,} attachments uuencoded in one text body": Bomb(
        many_uuencoded_files, errors.TooManyAttachmentsError
    ),
    f"{TNEF_FILES:,} attachments in one TNEF": Bomb(many_tnef_files, errors.TooManyAttachmentsError),
    "header flood: 4,001 fields": Bomb(header_field_flood, errors.HeaderLimitError),
    "header flood: 1 MiB + 1 byte": Bomb(header_bytes_flood, errors.HeaderLimitError),
    f"within the limits: To with {ADDRESSES:,} addresses": Bomb(to_addresses, None),
    f"within the limits: To of {DOTTED_KB} KB dotted junk": Bomb(to_dotted_junk, None),
    "within the limits: To with 20,000 nested comments": Bomb(to_nested_comments, None),
    "within the limits: Content-Type with 900 KB of quoted ';'": Bomb(content_type_quoted_semicolons, None),
    f"within the limits: {SEMICOLON_PARTS:,} parts with 8 KB of quoted ';' each": Bomb(
        parts_with_quoted_semicolons, None
    ),
    "within the limits: Subject of 70,000 encoded words": Bomb(subject_encoded_words_1mb, None),
    f"within the limits: uuencode 'begin' line with {BLANK_MIB} MiB of blanks": Bomb(uuencode_blank_run, None),
}


def run(raw: bytes) -> tuple[str, ParsedEmail | None]:
    """Parse ``raw`` as the Parse function does: ``("result", parsed)`` or ``(error class name, None)``."""
    try:
        return "result", parse_email(raw)
    except errors.MailroomError as exc:
        return type(exc).__name__, None
