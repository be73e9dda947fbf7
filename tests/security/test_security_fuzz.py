"""Mutation fuzzing: whatever arrives, the parser and the decrypter give a result or a typed error leaf.

Seeds are real messages: the builders of ``tests/mail_factory.py``, a few hand-written messages using
every feature the parser knows, and the public corpora in ``../shared/corpora`` (``$MAILROOM_CORPORA``).
Hypothesis mutates them byte by byte and structurally (boundaries, transfer encodings, charsets,
duplicated and folded headers, nesting, hostile file names), builds MIME trees from scratch, and
mutates SES's encryption metadata and ciphertext. A result must also be storable as the pipeline
stores it (UTF-8 JSON) and name its files safely; a refusal must be a leaf of ``mailroom.errors``.

``MAILROOM_FUZZ_EXAMPLES`` is the number of examples across all strategies (CI default below;
``make security`` runs 14,000, of which 10,500 are messages). Time per example is recorded, not asserted.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mail_factory import CRLF, b64_lines, pdf_bytes, scanner_mail, tnef
from mailroom.crypto import decrypt_ses_object
from mailroom.errors import EncryptionContextMismatchError, MailroomError, leaf_errors
from mailroom.mime import ParsedEmail, parse_email
from mailroom.mime.content import MemoryContent, MemoryStore
from mailroom.sesformat import EnvelopeMetadata
from security_helpers import Figures, assert_safe_name

from mailroom_cli.local.ses_producer import MemorySink, s3_metadata, ses_material_description

ROOT = Path(__file__).resolve().parents[2]
CORPORA = Path(os.environ.get("MAILROOM_CORPORA") or ROOT.parent / "shared" / "corpora")
CORPUS_SUFFIXES = (".eml", ".msg", ".raw")
MAX_SEED_BYTES = 256 * 1024  # larger corpus files are parsed whole below, but not mutated (speed)

TOTAL_EXAMPLES = int(os.environ.get("MAILROOM_FUZZ_EXAMPLES", "800"))
SHARES = {"bytes": 0.25, "structure": 0.30, "trees": 0.20, "metadata": 0.10, "ciphertext": 0.15}
LEAVES = frozenset(leaf_errors())


def examples(strategy: str) -> int:
    return max(20, round(TOTAL_EXAMPLES * SHARES[strategy]))


def fuzz_settings(strategy: str) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples(strategy),
        deadline=None,  # timing is recorded, not asserted: a loaded CI machine must not fail the suite
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --------------------------------------------------------------------------- seeds


def factory_seeds() -> list[bytes]:
    """Messages built by hand, together using every feature the parser knows."""
    rich = (
        f"From: =?utf-8?q?B=C3=BCro?= <a@example.com>{CRLF}To: inbox-7@in.mailroom.localhost, x@example.org{CRLF}"
        f"Subject: =?utf-8?b?w6Q=?= scan{CRLF}Message-ID: <rich@example.com>{CRLF}"
        f'Content-Type: multipart/mixed; boundary="o"{CRLF}{CRLF}'
        f"--o{CRLF}Content-Type: multipart/alternative; boundary=i{CRLF}{CRLF}"
        f"--i{CRLF}Content-Type: text/plain; charset=iso-8859-1{CRLF}Content-Transfer-Encoding: quoted-printable"
        f"{CRLF}{CRLF}caf=E9{CRLF}--i{CRLF}Content-Type: text/html{CRLF}{CRLF}<b>x</b>{CRLF}--i--{CRLF}"
        f"--o{CRLF}Content-Type: message/rfc822{CRLF}Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(b'Subject: inner' + CRLF.encode() * 2 + b'hi')}{CRLF}"
        f"--o{CRLF}Content-Type: application/ms-tnef{CRLF}Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(tnef([('t.txt', b'tnef file'), ('u.bin', bytes(300))]))}{CRLF}"
        f"--o{CRLF}Content-Type: application/octet-stream; name*=utf-8''%E2%82%AC.bin{CRLF}{CRLF}"
        f"begin 644 u.bin{CRLF}#86)C{CRLF}`{CRLF}end{CRLF}"
        f"--o{CRLF}Content-Type: application/octet-stream; name=z.bin{CRLF}Content-Transfer-Encoding: x-gzip64"
        f"{CRLF}{CRLF}H4sIAAAAAAAC/0tMBAAgNv0NAQAAAA=={CRLF}"
        f"--o{CRLF}Content-Type: multipart/related; boundary=r{CRLF}{CRLF}--r{CRLF}Content-Type: text/html{CRLF}{CRLF}"
        f'<img src="cid:i1">{CRLF}--r{CRLF}Content-Type: image/png{CRLF}Content-ID: <i1>{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}iVBORw0KGgo={CRLF}--r--{CRLF}--o--{CRLF}"
    ).encode()
    digest = (
        f"From: list@example.com{CRLF}Content-Type: multipart/digest; boundary=d{CRLF}{CRLF}"
        f"--d{CRLF}{CRLF}Subject: one{CRLF}{CRLF}first{CRLF}"
        f"--d{CRLF}{CRLF}Subject: two{CRLF}{CRLF}second{CRLF}--d--{CRLF}"
    ).encode()
    return [
        scanner_mail([("a.pdf", pdf_bytes(600)), ("b.pdf", pdf_bytes(300, seed=2))]),
        scanner_mail([("Rechnung 2026.pdf", pdf_bytes(2000, seed=3))], boundary="simple"),
        rich,
        digest,
        b"From: a@example.com\nTo: b@example.com\nSubject: lf only\n\nplain body\n",
    ]


def wrapped_tnef(container: bytes) -> bytes:
    """A raw TNEF stream as the ``winmail.dat`` attachment of a message (as the corpus scorer wraps it)."""
    return (
        f"From: a@example.com{CRLF}Content-Type: multipart/mixed; boundary=t{CRLF}{CRLF}--t{CRLF}"
        f"Content-Type: application/ms-tnef; name=winmail.dat{CRLF}Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(container)}{CRLF}--t--{CRLF}"
    ).encode()


def corpus_files() -> list[Path]:
    """Every message file of the public corpora, and every raw TNEF stream."""
    if not CORPORA.is_dir():
        return []
    return sorted(p for p in CORPORA.rglob("*") if p.is_file() and p.suffix in (*CORPUS_SUFFIXES, ".tnef"))


def corpus_message(path: Path) -> bytes:
    data = path.read_bytes()
    return wrapped_tnef(data) if path.suffix == ".tnef" else data


FACTORY_SEEDS = factory_seeds()
CORPUS_SEEDS = [corpus_message(p) for p in corpus_files() if p.stat().st_size <= MAX_SEED_BYTES]
SEEDS = FACTORY_SEEDS + CORPUS_SEEDS


# --------------------------------------------------------------------------- what every outcome must be


def assert_storable(result: ParsedEmail) -> None:
    """What the Parse step does with a result must work: UTF-8 JSON, one file per attachment."""
    contract = result.to_contract()
    json.dumps(contract, ensure_ascii=False).encode("utf-8")  # the manifest and the inbox item are UTF-8
    for value in (result.text, result.html):
        if value is not None:
            value.encode("utf-8", "surrogateescape")  # how the Parse step stages the bodies
    assert len(contract["attachments"]) == len(result.attachments)  # the manifest lists every one
    for attachment in result.attachments:
        assert_safe_name(attachment.safe_filename)
        assert isinstance(attachment.content, MemoryContent)
        data = attachment.content.read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (attachment.size, attachment.sha256)


def parse_and_check(raw: bytes, figures: Figures, strategy: str) -> str:
    """Parse ``raw``; record the outcome and the time; fail on anything but a result or a leaf error."""
    started = time.perf_counter()
    try:
        result = parse_email(raw, store=MemoryStore())
    except MailroomError as exc:
        outcome = type(exc).__name__
        assert outcome in LEAVES, f"{outcome} is not a leaf of the taxonomy"
    except Exception:
        figures.add("fuzz", strategy, "crashes")
        raise
    else:
        outcome = "result"
    elapsed = time.perf_counter() - started
    if outcome == "result":
        assert_storable(result)
    figures.add("fuzz", strategy, "examples")
    figures.add("fuzz", strategy, "results" if outcome == "result" else "typed_errors")
    if outcome != "result":
        errors = figures.tables["fuzz"][strategy].setdefault("errors", {})
        errors[outcome] = errors.get(outcome, 0) + 1
    figures.maximum("fuzz", strategy, "max_ms", elapsed * 1000)
    figures.maximum("fuzz", strategy, "max_input_bytes", len(raw))
    return outcome


# --------------------------------------------------------------------------- mutations

JUNK = [
    b"\r\n",
    b"\n",
    b"\r",
    b"--",
    b"=?",
    b"?=",
    b"\x00",
    b"\xff\xfe",
    b":",
    b";",
    b'"',
    b"\\",
    b"=\r\n",
    b"=XX",
    b"begin 644 x\r\n",
    b"\r\n\r\n",
    b"\t",
    b"+2AA-",
    b"\\ud800",
]
CTE_VALUES = [
    b"base64",
    b"BASE64 ",
    b'"base64"',
    b"base64; x=y",
    b"quoted-printable",
    b"x-uuencode",
    b"uuencode",
    b"x-gzip64",
    b"7bit",
    b"8bit",
    b"binary",
    b"x-unknown",
    b"",
    b"\x00",
]
CHARSETS = [
    b"utf-8",
    b"utf-7",
    b"unicode_escape",
    b"raw_unicode_escape",
    b"utf-16",
    b"utf-32-be",
    b"idna",
    b"punycode",
    b"rot13",
    b"base64",
    b"hex",
    b"zlib",
    b"undefined",
    b"fakescii",
    b"us-ascii",
    b"iso-2022-jp",
    b"gb18030",
    b"cp1252",
    b'""',
    b"x\x00y",
    b"'utf-8'",
    b"utf-8'en'",
    b"\xe9",
]
WORD_PAYLOADS = [b"+2AA-", b"\\ud800x", b"\\U00110000", b"=ZZ", b"////", b"w6Q=", b"_", b"\xff", b"", b"?", b"a" * 300]
HOSTILE_NAMES = [
    "../../etc/passwd",
    "..\\..\\windows\\system32\\x.dll",
    "/etc/shadow",
    "C:\\Users\\x\\evil.exe",
    "a/b/../../c.pdf",
    "con",
    "NUL.txt",
    "lpt1.pdf",
    "a\x00b.pdf",
    "line\r\nbreak.pdf",
    "tab\tname.pdf",
    "\u202egpj.exe",
    ".",
    "..",
    " ",
    ".hidden",
    "trailing. . .",
    "%2e%2e%2fetc%2fpasswd",
    "\x7fdel.pdf",
    "名前.pdf",
    "x" * 400 + ".pdf",
    "é" * 200 + ".pdf",
    '"quoted".pdf',
    "semi;colon.pdf",
    "<>:|?*.pdf",
]


def line_starts(data: bytes | bytearray) -> list[int]:
    return [0, *(m.end() for m in re.finditer(rb"\n", data))]


def boundaries(data: bytes | bytearray) -> list[bytes]:
    found = [m.group(1) for m in re.finditer(rb'boundary\s*=\s*"?([^";\r\n]{1,100})', data, re.I)]
    return found or [b"b"]


def encoded_name(draw: st.DrawFn, name: str) -> bytes:
    """``name`` as a sender might write it: plain, quoted, RFC 2047, RFC 2231, or as raw 8-bit bytes."""
    style = draw(st.sampled_from(["plain", "quoted", "2047-b", "2047-q", "2231", "raw8bit"]))
    raw = name.encode("utf-8", "surrogatepass")
    if style == "plain":
        return b"filename=" + raw
    if style == "quoted":
        return b'filename="' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    if style == "2047-b":
        return b'filename="=?utf-8?b?' + base64.b64encode(raw) + b'?="'
    if style == "2047-q":
        return b'filename="=?utf-8?q?' + b"".join(b"=%02X" % c for c in raw) + b'?="'
    if style == "2231":
        return b"filename*=utf-8''" + b"".join(b"%%%02X" % c for c in raw)
    return b'filename="' + name.encode("latin-1", "replace") + b'"'


@st.composite
def byte_mutated(draw: st.DrawFn) -> bytes:
    """A seed with bytes flipped, inserted, deleted, duplicated, or its tail cut off."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 12))):
        op = draw(st.sampled_from(["flip", "insert", "junk", "delete", "truncate", "duplicate"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "junk":
            data[pos:pos] = draw(st.sampled_from(JUNK))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 256))]
        elif op == "truncate":
            del data[pos:]
        elif op == "duplicate":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 512))] * draw(st.integers(1, 4))
    return bytes(data)


@st.composite
def structure_mutated(draw: st.DrawFn, seeds: list[bytes] | None = None) -> bytes:
    """A seed (of ``seeds``, default ``SEEDS``) with MIME structure damaged: boundaries, encodings,
    charsets, headers, nesting, names; a splice inserts another seed."""
    seeds = seeds or SEEDS
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        starts = line_starts(data)
        at = draw(st.sampled_from(starts))
        op = draw(
            st.sampled_from(
                [
                    "boundary",
                    "cte",
                    "charset",
                    "duplicate-header",
                    "drop-line",
                    "fold",
                    "nest",
                    "splice",
                    "encoded-word",
                    "filename",
                    "line-ends",
                    "uuencode",
                    "content-type",
                ]
            )
        )
        if op == "boundary":
            suffix = draw(st.sampled_from([b"", b"--", b" junk", b"\t", b"-- trailing", b"x"]))
            data[at:at] = b"--" + draw(st.sampled_from(boundaries(data))) + suffix + b"\r\n"
        elif op == "cte":
            data[at:at] = b"Content-Transfer-Encoding: " + draw(st.sampled_from(CTE_VALUES)) + b"\r\n"
        elif op == "charset":
            charset = draw(st.sampled_from(CHARSETS))
            replaced = re.sub(rb"charset=\"?[^\";\r\n]*\"?", b"charset=" + charset, bytes(data), count=1, flags=re.I)
            if replaced == bytes(data):
                replaced = (
                    bytes(data[:at]) + b"Content-Type: text/plain; charset=" + charset + b"\r\n" + bytes(data[at:])
                )
            data = bytearray(replaced)
        elif op == "duplicate-header":
            end = data.find(b"\n", at)
            line = bytes(data[at : end + 1 if end >= 0 else len(data)])
            data[at:at] = line * draw(st.integers(1, 300))
        elif op == "drop-line":
            end = data.find(b"\n", at)
            del data[at : end + 1 if end >= 0 else len(data)]
        elif op == "fold":
            pos = draw(st.integers(at, len(data)))
            data[pos:pos] = draw(st.sampled_from([b"\r\n ", b"\r\n\t", b"\n ", b"\r\n"]))
        elif op == "nest":
            inner = bytes(data)
            encoding = draw(st.sampled_from([b"7bit", b"base64"]))
            body = b64_lines(inner).encode() if encoding == b"base64" else inner
            kind = draw(st.sampled_from([b"message/rfc822", b"message/global", b"application/octet-stream"]))
            data = bytearray(
                b'From: outer@example.com\r\nContent-Type: multipart/mixed; boundary="nest"\r\n\r\n--nest\r\n'
                b"Content-Type: " + kind + b"\r\nContent-Transfer-Encoding: " + encoding + b"\r\n\r\n"
                + body + b"\r\n--nest--\r\n"
            )  # fmt: skip
        elif op == "splice":
            data[at:at] = draw(st.sampled_from(seeds))
        elif op == "encoded-word":
            word = b"=?" + draw(st.sampled_from(CHARSETS)) + b"?" + draw(st.sampled_from([b"b", b"q", b"x"]))
            data[at:at] = b"Subject: " + word + b"?" + draw(st.sampled_from(WORD_PAYLOADS)) + b"?=\r\n"
        elif op == "filename":
            name = encoded_name(draw, draw(st.sampled_from(HOSTILE_NAMES)))
            data[at:at] = b"Content-Disposition: attachment; " + name + b"\r\n"
        elif op == "line-ends":
            old, new = draw(st.sampled_from([(b"\r\n", b"\n"), (b"\n", b"\r\n"), (b"\r\n", b"\r"), (b"\n", b"\n\n")]))
            data = bytearray(bytes(data).replace(old, new))
        elif op == "uuencode":
            name = draw(st.sampled_from(HOSTILE_NAMES)).encode("utf-8", "replace")
            data[at:at] = b"begin 644 " + name + b"\r\n#86)C\r\n`\r\nend\r\n"
        elif op == "content-type":
            ctype = draw(
                st.sampled_from(
                    [
                        b"multipart/mixed",
                        b"multipart/alternative; boundary=",
                        b'multipart/digest; boundary="d"',
                        b"message/rfc822",
                        b"application/ms-tnef",
                        b"text/plain; format=flowed; delsp=yes",
                        b"text/html; charset=utf-7",
                        b"image/png; name=" + draw(st.sampled_from(HOSTILE_NAMES)).encode("utf-8", "replace"),
                        b"",
                        b"/",
                        b"multipart/",
                    ]
                )
            )
            data[at:at] = b"Content-Type: " + ctype + b"\r\n"
    return bytes(data)


@st.composite
def mime_part(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One MIME entity (headers, blank line, body), generated from scratch."""
    kinds = ["leaf", "leaf", "multipart", "rfc822", "tnef"] if depth < 4 else ["leaf"]
    kind = draw(st.sampled_from(kinds))
    headers: list[bytes] = []
    if kind == "multipart":
        boundary = draw(st.sampled_from([b"b", b"=_x", b"--", b"a b", b"x" * 70, b"\xff"])) + b"%d" % depth
        subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"digest", b"signed", b"report"]))
        children = draw(st.lists(mime_part(depth + 1), max_size=4))
        closing = b"--" + boundary + b"--\r\n" if draw(st.booleans()) else b""
        body = b"".join(b"--" + boundary + b"\r\n" + child + b"\r\n" for child in children) + closing
        headers.append(b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"')
    elif kind == "rfc822":
        inner = b"From: inner@example.com\r\nSubject: inner\r\n" + draw(mime_part(depth + 1))
        encoding = draw(st.sampled_from([b"7bit", b"base64"]))
        body = b64_lines(inner).encode() if encoding == b"base64" else inner
        headers += [b"Content-Type: message/rfc822", b"Content-Transfer-Encoding: " + encoding]
    elif kind == "tnef":
        files = draw(st.lists(st.tuples(st.sampled_from(["a.txt", "b.bin", "c"]), st.binary(max_size=64)), max_size=3))
        body = b64_lines(tnef(files)).encode()
        headers += [b"Content-Type: application/ms-tnef", b"Content-Transfer-Encoding: base64"]
    else:
        payload = draw(st.binary(max_size=256))
        ctype = draw(st.sampled_from([b"text/plain", b"text/html", b"application/pdf", b"image/jpeg", b"x/y"]))
        if draw(st.booleans()):
            ctype += b"; charset=" + draw(st.sampled_from(CHARSETS))
        headers.append(b"Content-Type: " + ctype)
        encoding = draw(st.sampled_from([b"7bit", b"base64", b"quoted-printable", b"x-uuencode", b"x-gzip64"]))
        headers.append(b"Content-Transfer-Encoding: " + encoding)
        if encoding == b"base64":
            body = b64_lines(payload).encode()
        elif encoding == b"quoted-printable":
            body = b"".join(b"=%02X" % c for c in payload)
        else:
            body = payload
        if draw(st.booleans()):
            name = draw(st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=40)))
            disposition = draw(st.sampled_from([b"attachment", b"inline", b"junk"]))
            headers.append(b"Content-Disposition: " + disposition + b"; " + encoded_name(draw, name))
        if draw(st.booleans()):
            headers.append(b"Content-ID: <" + draw(st.sampled_from([b"i1", b"", b"<>", b"x@y"])) + b">")
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


@st.composite
def generated_message(draw: st.DrawFn) -> bytes:
    top = [
        b"From: " + draw(st.sampled_from([b"a@example.com", b"=?utf-7?q?+2AA-?= <a@b.example>", b"", b"<>"])),
        b"To: " + draw(st.sampled_from([b"inbox-7@in.mailroom.localhost", b"undisclosed-recipients:;", b"(", b""])),
        b"Subject: " + draw(st.sampled_from([b"scan", b"=?unicode_escape?q?\\ud800?=", b"=?x?q?y?=", b""])),
    ]
    return b"\r\n".join(top) + b"\r\n" + draw(mime_part())


# --------------------------------------------------------------------------- the parser


def test_every_public_corpus_message_gives_a_result_or_a_typed_error(figures: Figures) -> None:
    files = corpus_files()
    if not files:
        pytest.skip(f"no public corpora at {CORPORA} (set MAILROOM_CORPORA): nothing to parse")
    for path in files:
        parse_and_check(corpus_message(path), figures, "corpus (whole files, unmutated)")
    figures.record("fuzz", "corpus (whole files, unmutated)", files=len(files))


def test_the_factory_seeds_carry_attachments_so_every_storable_check_runs() -> None:
    # assert_storable checks each attachment: over the seeds the mutations start from, there are some.
    parsed = [parse_email(seed, store=MemoryStore()) for seed in FACTORY_SEEDS]
    assert len(parsed) == 5
    for result in parsed:
        assert_storable(result)
    assert sum(len(r.attachments) for r in parsed) >= 8
    assert all(r.attachments for r in parsed[:3])


def test_the_public_corpora_are_among_the_mutation_seeds(figures: Figures) -> None:
    figures.record("fuzz", "seeds", factory=len(FACTORY_SEEDS), corpus=len(CORPUS_SEEDS))
    if not CORPORA.is_dir():
        pytest.skip(f"no public corpora at {CORPORA} (set MAILROOM_CORPORA): mutating the factory seeds only")
    assert len(CORPUS_SEEDS) > 100


@fuzz_settings("bytes")
@given(raw=byte_mutated())
def test_byte_mutations_of_real_messages_give_a_result_or_a_typed_error(raw: bytes, figures: Figures) -> None:
    parse_and_check(raw, figures, "byte mutations")


@fuzz_settings("structure")
@given(raw=structure_mutated())
def test_structural_mutations_of_real_messages_give_a_result_or_a_typed_error(raw: bytes, figures: Figures) -> None:
    parse_and_check(raw, figures, "structural mutations")


@fuzz_settings("trees")
@given(raw=generated_message())
def test_generated_mime_trees_with_hostile_names_give_a_result_or_a_typed_error(raw: bytes, figures: Figures) -> None:
    parse_and_check(raw, figures, "generated MIME trees")


# --------------------------------------------------------------------------- SES envelope and ciphertext

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
MESSAGE_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
OTHER_MESSAGE_ID = "5gq2n8lr1vkd7ce3tmu0o9bh4ps6ij2a8f1e5c3d"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0b7a3b0c-3a5e-4b6e-9a8a-1d2c3b4a5f60"
PLAINTEXT = scanner_mail([("scan.pdf", pdf_bytes(3000, seed=9))])
DATA_KEY = bytes(range(32))
IV = bytes(range(12))
WRAPPED = b"kms-wrapped data key"


class OneKeyKms:
    """KMS holding one wrapped data key: it unwraps only under exactly the context it was wrapped with."""

    def __init__(self, context: Mapping[str, str]) -> None:
        self.context = dict(context)

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str]) -> bytes:
        if ciphertext_blob != WRAPPED or dict(context) != self.context:
            raise EncryptionContextMismatchError("KMS refused to unwrap the data key (InvalidCiphertextException)")
        return DATA_KEY

    def generate_data_key(self, key_id: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        raise AssertionError("decrypting never generates keys")


CONTEXT = ses_material_description(message_id=MESSAGE_ID, rule_name="rule", account_id=ACCOUNT, kms_key_id=KEY_ARN)
BODY = AESGCM(DATA_KEY).encrypt(IV, PLAINTEXT, None)
METADATA = s3_metadata(
    EnvelopeMetadata(wrapped_key=WRAPPED, iv=IV, material_description=CONTEXT, plaintext_length=len(PLAINTEXT))
)
TEXT_JUNK = [
    "",
    " ",
    "\x00",
    "%%%",
    "0",
    "-1",
    "+16",
    "1e3",
    "١٢٨",
    "128 ",
    "99999999999999999999999",
    "AES/GCM/NoPadding ",
    "aes/gcm/nopadding",
    "AES/CBC/PKCS5Padding",
    "kms+context",
    "KMS",
    "{}",
    "[]",
    "null",
    '{"a":1,"a":2}',
    "[" * 5000,
    "A" * 10_000,
    "AAAA",
    base64.b64encode(bytes(11)).decode(),
    base64.b64encode(bytes(12)).decode() + "\n",
]


@st.composite
def mutated_metadata(draw: st.DrawFn) -> dict[str, Any]:
    """SES's metadata with fields dropped, replaced, re-cased, or the material description rewritten."""
    meta: dict[str, Any] = dict(METADATA)
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(sorted(meta) or ["x-amz-iv"]))
        op = draw(st.sampled_from(["drop", "junk", "text", "case", "not-text", "matdesc", "v1"]))
        if op == "drop":
            meta.pop(name, None)
        elif op == "junk":
            meta[name] = draw(st.sampled_from(TEXT_JUNK))
        elif op == "text":
            meta[name] = draw(st.text(max_size=64))
        elif op == "case" and name in meta:
            meta[name.upper()] = meta.pop(name)
        elif op == "not-text":
            meta[name] = draw(st.sampled_from([None, 128, b"bytes", ["list"]]))
        elif op == "v1":
            meta["x-amz-key"] = meta.pop("x-amz-key-v2", "AAAA")
        elif op == "matdesc":
            matdesc: dict[str, Any] = dict(CONTEXT)
            field = draw(st.sampled_from(sorted(matdesc)))
            change = draw(st.sampled_from(["drop", "other", "number", "empty", "extra"]))
            if change == "drop":
                matdesc.pop(field)
            elif change == "other":
                matdesc[field] = draw(st.sampled_from([OTHER_MESSAGE_ID, OTHER_ACCOUNT, "other-rule", "alias/x"]))
            elif change == "number":
                matdesc[field] = 123456789012
            elif change == "empty":
                matdesc[field] = ""
            else:
                matdesc["aws:ses:extra"] = "x"
            meta["x-amz-matdesc"] = json.dumps(matdesc)
    return meta


def metadata_outcome(meta: Mapping[str, Any]) -> str:
    try:
        EnvelopeMetadata.from_s3_metadata(meta)
    except MailroomError as exc:
        return type(exc).__name__
    return "result"


@fuzz_settings("metadata")
@given(meta=mutated_metadata())
def test_mutated_encryption_metadata_is_read_or_refused_with_a_typed_error(
    meta: dict[str, Any], figures: Figures
) -> None:
    started = time.perf_counter()
    outcome = metadata_outcome(meta)
    assert outcome == "result" or outcome in LEAVES
    figures.add("fuzz", "SES metadata", "examples")
    figures.add("fuzz", "SES metadata", "results" if outcome == "result" else "typed_errors")
    if outcome != "result":
        errors = figures.tables["fuzz"]["SES metadata"].setdefault("errors", {})
        errors[outcome] = errors.get(outcome, 0) + 1
    figures.maximum("fuzz", "SES metadata", "max_ms", (time.perf_counter() - started) * 1000)


@st.composite
def tampered_object(draw: st.DrawFn) -> dict[str, Any]:
    """Decrypt's inputs with the ciphertext, tag, length, metadata or expected identity changed."""
    body = bytearray(BODY)
    case: dict[str, Any] = {"metadata": dict(METADATA), "account": ACCOUNT, "message_id": MESSAGE_ID}
    size_delta = 0
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "flip-tag", "truncate", "append", "size", "metadata", "identity"]))
        if op == "flip" and body:
            body[draw(st.integers(0, len(body) - 1))] ^= draw(st.integers(1, 255))
        elif op == "flip-tag" and body:
            body[len(body) - draw(st.integers(1, min(16, len(body))))] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del body[draw(st.integers(0, len(body))) :]
        elif op == "append":
            body += draw(st.binary(min_size=1, max_size=32))
        elif op == "size":
            size_delta = draw(st.sampled_from([-17, -16, -1, 1, 16]))
        elif op == "metadata":
            case["metadata"] = draw(mutated_metadata())
        else:
            case["account"], case["message_id"] = draw(
                st.sampled_from([(OTHER_ACCOUNT, MESSAGE_ID), (ACCOUNT, OTHER_MESSAGE_ID), (ACCOUNT, "x" * 40)])
            )
    case["body"] = bytes(body)
    case["size"] = max(0, len(body) + size_delta)
    case["chunk_size"] = draw(st.sampled_from([16, 1000, 1 << 20]))  # small chunks: many reads and writes
    return case


@fuzz_settings("ciphertext")
@given(case=tampered_object())
def test_tampered_ses_objects_never_publish_and_fail_with_a_typed_error(case: dict[str, Any], figures: Figures) -> None:
    sink = MemorySink()
    started = time.perf_counter()
    try:
        result = decrypt_ses_object(
            io.BytesIO(case["body"]),
            metadata=case["metadata"],
            size=case["size"],
            keys=OneKeyKms(CONTEXT),
            sink=sink,
            expected_account=case["account"],
            expected_message_id=case["message_id"],
            chunk_size=case["chunk_size"],
        )
    except MailroomError as exc:
        outcome = type(exc).__name__
    else:
        # Only a change that changes nothing (re-cased metadata names) may decrypt, and then exactly.
        assert sink.value == PLAINTEXT
        assert result.sha256 == hashlib.sha256(PLAINTEXT).hexdigest()
        outcome = "result"
    if outcome != "result":
        assert outcome in LEAVES
        assert sink.value is None, "nothing may be published from an object that fails"
        assert sink.discarded
    figures.add("fuzz", "SES ciphertext", "examples")
    figures.add("fuzz", "SES ciphertext", "results" if outcome == "result" else "typed_errors")
    if outcome != "result":
        errors = figures.tables["fuzz"]["SES ciphertext"].setdefault("errors", {})
        errors[outcome] = errors.get(outcome, 0) + 1
    figures.maximum("fuzz", "SES ciphertext", "max_ms", (time.perf_counter() - started) * 1000)


def test_an_untampered_object_decrypts_so_the_refusals_above_are_the_tampering() -> None:
    sink = MemorySink()
    decrypt_ses_object(
        io.BytesIO(BODY),
        metadata=METADATA,
        size=len(BODY),
        keys=OneKeyKms(CONTEXT),
        sink=sink,
        expected_account=ACCOUNT,
        expected_message_id=MESSAGE_ID,
    )
    assert sink.value == PLAINTEXT
