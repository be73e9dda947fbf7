"""Property tests: whatever bytes arrive, the parser returns a result or a typed PermanentError."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mail_factory import CRLF, b64_lines, pdf_bytes, scanner_mail, tnef
from mailroom.errors import PermanentError
from mailroom.mime import ParsedEmail, parse_email
from mailroom.mime.content import MemoryContent, MemoryStore

SEEDS = [
    scanner_mail([("a.pdf", pdf_bytes(600)), ("b.pdf", pdf_bytes(300, seed=2))]),
    (
        f"From: a@example.com{CRLF}Subject: =?utf-8?b?w6Q=?={CRLF}"
        f'Content-Type: multipart/mixed; boundary="o"{CRLF}{CRLF}'
        f"--o{CRLF}Content-Type: multipart/alternative; boundary=i{CRLF}{CRLF}"
        f"--i{CRLF}Content-Type: text/plain; charset=iso-8859-1{CRLF}Content-Transfer-Encoding: quoted-printable"
        f"{CRLF}{CRLF}caf=E9{CRLF}--i{CRLF}Content-Type: text/html{CRLF}{CRLF}<b>x</b>{CRLF}--i--{CRLF}"
        f"--o{CRLF}Content-Type: message/rfc822{CRLF}Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(b'Subject: inner' + CRLF.encode() * 2 + b'hi')}{CRLF}"
        f"--o{CRLF}Content-Type: application/ms-tnef{CRLF}Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(tnef([('t.txt', b'tnef file')]))}{CRLF}"
        f"--o{CRLF}Content-Type: application/octet-stream; name*=utf-8''%E2%82%AC.bin{CRLF}{CRLF}"
        f"begin 644 u.bin{CRLF}#86)C{CRLF}`{CRLF}end{CRLF}--o--{CRLF}"
    ).encode(),
    # issue 15's classes: a wildcard multipart, repeated From, charset labels Python lacks, ISO-2022-JP
    # with a NEC character, a cut raw UTF-8 name, a bad byte in UTF-8 text
    (
        f"From: a@example.com{CRLF}From: b@example.com{CRLF}Subject: =?iso-8859-8-i?b?+ezl7Q==?={CRLF}"
        f"Subject: =?ISO-2022-JP?B?GyRCLSEbKEI=?= =?ks_c_5601-1987?b?vsiz5w==?={CRLF}"
        f'Content-Type: multipart/*; boundary="o"{CRLF}{CRLF}'
        f"--o{CRLF}Content-Type: text/plain; charset=iso-2022-jp{CRLF}{CRLF}\x1b$B-!-b\x1b(B ok{CRLF}"
        f"--o{CRLF}Content-Type: text/html; charset=utf-8{CRLF}{CRLF}<b>gr\u00fc\u00dfe \udcff</b>{CRLF}"
        f"--o{CRLF}Content-Type: application/octet-stream{CRLF}"
        f'Content-Disposition: attachment; filename="\u7ba1\u7406\udce7\udcae"{CRLF}{CRLF}'
        f"{b64_lines(b'file')}{CRLF}--o--{CRLF}"
    ).encode("utf-8", "surrogateescape"),
]


def check(raw: bytes) -> None:
    """Parse `raw`; a result must be self-consistent, a refusal must be a typed PermanentError."""
    try:
        result = parse_email(raw, store=MemoryStore())
    except PermanentError:
        return
    assert isinstance(result, ParsedEmail)
    result.to_contract()
    for attachment in result.attachments:
        assert isinstance(attachment.content, MemoryContent)
        data = attachment.content.read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (attachment.size, attachment.sha256)
        assert "/" not in attachment.safe_filename
        assert attachment.safe_filename.strip(". ")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_give_a_result_or_a_typed_error(raw: bytes) -> None:
    check(raw)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real-looking message with bytes flipped, inserted, deleted or the tail cut off."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from([b"\r\n", b"--", b"=?", b"\x00", b"begin 644 x\n", b":", b"\n--o\n"]))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
        elif op == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 200))]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_messages_give_a_result_or_a_typed_error(raw: bytes) -> None:
    check(raw)


def test_seed_messages_parse_fully() -> None:
    for raw in SEEDS:
        result = parse_email(raw)
        assert result.attachments, "each seed carries attachments to mutate"
