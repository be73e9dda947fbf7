"""Header sections: split raw bytes into fields, and decode the few values mailroom reads.

Splitting is ours (offsets, limits, tolerance for the junk real mail carries); interpreting a value
(RFC 2047 words, RFC 2231 parameters, addresses, dates) is the standard library's, wrapped so that
no malformed value can raise past this module.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from dataclasses import dataclass, field
from email import policy, utils
from email.header import decode_header
from email.message import Message

from mailroom.errors import HeaderLimitError

_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?]*\?=")
_SURROGATE = re.compile("[\ud800-\udfff]")
_FALLBACK_CHARSETS = {"us-ascii": "utf-8", "ascii": "utf-8", "7bit": "utf-8", "8bit": "utf-8"}
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
    """Header bytes to text: UTF-8 when valid (RFC 6532), else Latin-1 (never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


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
    # unfold: a line break followed by whitespace is whitespace (RFC 5322 §2.2.3)
    value = re.sub(r"\n(?=[ \t])", "", value).strip()
    headers.fields.append((name.strip().lower(), value))


def lookup_codec(charset: str | None, default: str = "utf-8") -> str:
    """A codec name Python knows for `charset`, or `default` for unknown and missing ones."""
    if not charset:
        return default
    name = charset.strip().strip("\"'").lower()
    name = _FALLBACK_CHARSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # unknown names, and names holding NUL bytes
        return default


def scrub(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD.

    Codecs such as utf-7 and unicode_escape decode to lone surrogates, which nothing downstream
    can store: UTF-8, JSON for the manifest and the inbox item both refuse them.
    """
    return _SURROGATE.sub("\ufffd", text)


def decode_text(data: bytes, charset: str | None) -> str:
    """Bytes of a text part in its declared charset; undecodable bytes never raise."""
    return scrub(_decode_text(data, charset))


def _decode_text(data: bytes, charset: str | None) -> str:
    codec = lookup_codec(charset)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252" if codec == "utf-8" else codec, errors="replace")
        except Exception:  # noqa: BLE001 - punycode and idna support no "replace" (they raise UnicodeError)
            return data.decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 - codecs such as utf-7 raise other errors on bad input
        return data.decode("utf-8", errors="replace")


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in an unstructured value (used for parameters too).

    A value longer than `MAX_STRUCTURED_VALUE` is returned as written (decoding it is super-linear).
    """
    if "=?" not in value or len(value) > MAX_STRUCTURED_VALUE:
        return value
    try:
        pieces = decode_header(value)
    except Exception:  # noqa: BLE001 - a malformed word is kept as written
        return value
    out: list[str] = []
    for chunk, charset in pieces:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_text(chunk, charset or "utf-8"))
    return "".join(out)


def unstructured(value: str | None) -> str | None:
    """An unstructured header (Subject) decoded the way mail clients show it."""
    if value is None:
        return None
    value = value[:MAX_STRUCTURED_VALUE]
    try:
        text = str(policy.default.header_factory("subject", value))
    except Exception:  # noqa: BLE001 - fall back to a plain RFC 2047 decode
        return decode_words(value)
    # the stdlib leaves words holding raw 8-bit bytes encoded; decode those leniently
    return scrub(decode_words(value) if has_encoded_words(text) else text)


def addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, addr-spec) pairs of address headers; malformed entries are skipped.

    Long lists are read with the linear legacy parser only, so that every address still counts.
    """
    out: list[tuple[str, str]] = []
    modern = sum(len(value) for value in values) <= MAX_STRUCTURED_VALUE
    for value in values:
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


def has_encoded_words(value: str) -> bool:
    """Whether `value` holds an RFC 2047 encoded word."""
    return bool(_ENCODED_WORD.search(value))
