"""Header sections: split raw bytes into fields, and decode the few values mailroom reads.

Splitting is ours (offsets, limits, tolerance for the junk real mail carries); interpreting a value
(RFC 2047 words, RFC 2231 parameters, addresses, dates) is the standard library's, wrapped so that
no malformed value can raise past this module.
"""

from __future__ import annotations

import binascii
import datetime as dt
import re
from dataclasses import dataclass, field
from email import policy, utils
from email.message import Message

from mailroom.errors import HeaderLimitError
from mailroom.mime import charsets

_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_ENCODED_WORD_PARTS = re.compile(r"(=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=)")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_B64_ALPHABET = bytes(sorted(set(range(256)) - set(_B64_ALPHABET)))
_SURROGATE = re.compile("[\ud800-\udfff]")
# The standard library's header parsers are super-linear in a value's length (its parameter splitter
# rescans the value once per `;`, its RFC 5322 address parser once per token): a 1 MB section of
# junk would take minutes to hours. Real values are far below these bounds; longer ones are cut
# (MIME fields, subjects) or read with the linear legacy address parser.
MAX_MIME_VALUE = 2048
MAX_MIME_PARAMETERS = 32
MAX_STRUCTURED_VALUE = 8192


@dataclass(frozen=True)
class HeaderLimits:
    """Bounds on one header section (a header flood is refused, not parsed)."""

    max_bytes: int = 1024 * 1024
    max_fields: int = 4000


@dataclass
class Headers:
    """The fields of one header section in order, names lower-cased, values unfolded text."""

    fields: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """The first value of `name`, or None."""
        for key, value in self.fields:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, in order."""
        return [value for key, value in self.fields if key == name]

    def mime(self) -> Message:
        """A header-only stdlib Message with the MIME fields, for its parameter parsing (RFC 2231)."""
        msg = Message()
        for key in ("content-type", "content-disposition", "content-transfer-encoding", "content-id"):
            value = self.get(key)
            if value is not None:
                msg[key] = ";".join(
                    value[:MAX_MIME_VALUE].split(";", MAX_MIME_PARAMETERS + 1)[: MAX_MIME_PARAMETERS + 1]
                )
        return msg


def decode_header_bytes(raw: bytes) -> str:
    """Raw 8-bit header bytes to text: UTF-8 (RFC 6532), with replacement, before Latin-1 is considered.

    A name cut inside a character by the sending client keeps its whole characters and ends in one
    U+FFFD; Latin-1 is used only when the bytes clearly are no UTF-8 (`charsets.utf8_lenient`): a
    legacy 8-bit header, never a UTF-8 one with a bad byte. Never fails.
    """
    text = charsets.utf8_lenient(raw)
    return text if text is not None else raw.decode("latin-1")


def split_headers(buf: bytes, start: int, end: int, limits: HeaderLimits, defects: list[str]) -> tuple[Headers, int]:
    """Read the header section at buf[start:end]; return it and the offset where the body starts.

    The section ends at the first empty line, or (a defect) at the first line that is neither a
    field nor a continuation, which then belongs to the body.
    """
    headers = Headers()
    pos = start
    if buf.startswith(b"From ", start, end):  # an mbox separator line, not a field
        nl = buf.find(b"\n", start, end)
        pos = end if nl < 0 else nl + 1
    current: list[bytes] = []
    while pos < end:
        nl = buf.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        line = buf[pos:line_end].rstrip(b"\r\n")
        if not line:
            pos = line_end
            break
        if line[0] in b" \t" and current:
            current.append(line)
        elif _FIELD_NAME.match(line):
            if current:
                _add_field(headers, current)
            current = [line]
            if len(headers.fields) >= limits.max_fields:
                raise HeaderLimitError(f"more than {limits.max_fields} header fields")
        elif line[0] in b" \t":
            pass  # a continuation with nothing to continue: drop it
        elif pos == start and _next_line_is_field(buf, line_end, end):
            defects.append("InvalidHeaderLineDefect")  # garbage first line, real fields follow
        else:
            defects.append("MissingHeaderBodySeparatorDefect")
            break
        pos = line_end
        if pos - start > limits.max_bytes:
            raise HeaderLimitError(f"header section larger than {limits.max_bytes} bytes")
    if current:
        _add_field(headers, current)
    return headers, pos


def _next_line_is_field(buf: bytes, pos: int, end: int) -> bool:
    return bool(_FIELD_NAME.match(buf[pos : min(end, pos + 200)]))


def _add_field(headers: Headers, lines: list[bytes]) -> None:
    raw = decode_header_bytes(b"\n".join(lines))
    name, _, value = raw.partition(":")
    if len(lines) > 1:  # unfold: a line break followed by whitespace is whitespace (RFC 5322 §2.2.3)
        value = re.sub(r"\n(?=[ \t])", "", value)
    value = value.strip()
    headers.fields.append((name.strip().lower(), value))


def scrub(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD.

    Codecs such as utf-7 decode to lone surrogates, which nothing downstream can store: UTF-8,
    JSON for the manifest and the inbox item all refuse them.
    """
    return _SURROGATE.sub("\ufffd", text)


def decode_text(data: bytes, charset: str | None) -> str:
    """Bytes of a text part in its declared charset (`charsets.decode`); undecodable bytes never raise."""
    return scrub(charsets.decode(data, charset))


def decode_words(value: str) -> str:
    """Decode the RFC 2047 encoded words of an unstructured value (used for parameters too).

    Whitespace between two encoded words is dropped, and adjacent words in the same charset are
    joined before decoding, so a character split across two words (as encoders do with UTF-8 and
    ISO-2022-JP) comes out whole. Each charset label goes through `charsets`; a word that does not
    decode is kept as written. Linear in the value's length.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    pos = 0
    for match in _ENCODED_WORD_PARTS.finditer(value):
        gap = value[pos : match.start()]
        decoded = _word_bytes(match.group(3), match.group(4))
        if decoded is None:
            continue  # kept as written: it becomes part of the next gap
        charset = match.group(2).partition("*")[0]  # RFC 2231 §5: charset*language
        if not (pending and (not gap or gap.isspace())):
            _flush(out, pending, pending_charset)
            out.append(gap)
        elif charset.lower() != pending_charset.lower():
            _flush(out, pending, pending_charset)
        pending_charset = charset
        pending.append(decoded)
        pos = match.end()
    _flush(out, pending, pending_charset)
    out.append(value[pos:])
    return scrub("".join(out))


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:  # raw 8-bit bytes inside a word: back to the bytes the header held (when it read as Latin-1)
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    data = data.translate(None, _NOT_B64_ALPHABET)
    data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data + b"=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return None


def _flush(out: list[str], pending: list[bytes], charset: str) -> None:
    if pending:
        out.append(decode_text(b"".join(pending), charset))
        pending.clear()


def unstructured(value: str | None) -> str | None:
    """An unstructured header (Subject) decoded the way mail clients show it."""
    if value is None:
        return None
    return scrub(decode_words(value[:MAX_STRUCTURED_VALUE]))


def addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, addr-spec) pairs of address headers; malformed entries are skipped.

    Long lists are read with the linear legacy parser only, so that every address still counts.
    """
    out: list[tuple[str, str]] = []
    modern = sum(len(value) for value in values) <= MAX_STRUCTURED_VALUE
    for value in values:
        simple = _SIMPLE_ADDRESS.fullmatch(value) if len(value) <= MAX_SIMPLE_ADDRESS else None
        if simple:  # `addr@host`, `<addr@host>` or `Name <addr@host>`: what the stdlib would give, 20x sooner
            out.append((" ".join((simple.group(1) or "").split()), simple.group(2) or simple.group(3)))
            continue
        pairs: list[tuple[str, str]] | None = None
        if modern:
            try:
                header = policy.default.header_factory("to", value)
                pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
            except Exception:  # noqa: BLE001 - the lenient legacy parser as a fallback
                pairs = None
        if pairs is None:
            try:
                pairs = [(decode_words(name), addr) for name, addr in utils.getaddresses([value])]
            except Exception:  # noqa: BLE001 - e.g. RecursionError on thousands of nested comments
                pairs = []
        out.extend((scrub(name), scrub(addr)) for name, addr in pairs if addr)
    return out


MAX_SIMPLE_ADDRESS = 998  # RFC 5322's line limit: a plain mailbox is far shorter
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
# One mailbox with nothing the RFC 5322 parser would need: no quotes, comments, groups or encoded words.
_PLAIN_NAME = r"[A-Za-z0-9!#$%&'*+/?^_`{|}~. -]*[A-Za-z0-9]"
_SIMPLE_ADDRESS = re.compile(rf"\s*(?:({_PLAIN_NAME})?\s*<({_ADDR_SPEC})>|({_ADDR_SPEC}))\s*")


def message_id(value: str | None) -> str | None:
    """A Message-ID without its angle brackets."""
    if not value:
        return None
    text = value.strip()
    match = re.search(r"<([^<>]*)>", text)
    if match:
        return match.group(1).strip() or None
    return text.split()[0] if text.split() else None


def date(value: str | None) -> dt.datetime | None:
    """The Date header as a datetime (naive when the header gives no offset), or None."""
    if not value:
        return None
    try:
        return utils.parsedate_to_datetime(value)
    except Exception:  # noqa: BLE001 - an unreadable date is no date
        return None
