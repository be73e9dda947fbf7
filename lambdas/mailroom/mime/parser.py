"""Raw RFC 5322 bytes → headers, bodies and attachments, as real mail needs it.

Structure is found with `bytes.find` over the whole message (offsets, no copies); each part's
header section is split here and interpreted by the standard library; bodies are decoded by
`transfer` straight into a `ContentStore`. Body versus attachment follows RFC 8621 §4.1.4 (JMAP),
except that inline images, audio and video are always listed as attachments too (flagged inline):
a user's inbox must never hide a file the sender sent.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message

from mailroom.errors import (
    MalformedMessageError,
    MessageTooLargeError,
    NestingTooDeepError,
    TooManyAttachmentsError,
)
from mailroom.mime import charsets
from mailroom.mime import headers as hdr
from mailroom.mime.content import ContentStore, DigestOnlyStore
from mailroom.mime.filenames import safe_filename
from mailroom.mime.model import Attachment, ParsedEmail, Verdicts
from mailroom.mime.tnef import extract_tnef, is_tnef
from mailroom.mime.transfer import Write, decode_body, decode_uu_block, find_uuencoded, normalise_cte

MIB = 1024 * 1024
_INLINE_MEDIA = ("image/", "audio/", "video/")
_NESTED_TYPES = ("message/rfc822", "message/global")
_NESTED_HEAD_BYTES = 64 * 1024  # enough encoded bytes to hold an embedded message's header section
_RECEIVED_FOR = re.compile(r"\bfor\s+<?([^\s<>;]+@[^\s<>;]+)>?", re.I)
_AUTH_RESULT = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.I)


@dataclass(frozen=True)
class Limits:
    """What one message may hold before it is refused with a typed error."""

    max_message_bytes: int = 40 * MIB  # SES's own limit
    max_parts: int = 5000
    max_attachments: int = 1000
    max_depth: int = 32
    max_decoded_bytes: int = 200 * MIB  # sum over all decoded content, TNEF and x-gzip64 included
    header: hdr.HeaderLimits = field(default_factory=hdr.HeaderLimits)


@dataclass
class _Entity:
    headers: hdr.Headers
    mime: Message
    content_type: str
    buf: bytes
    body_start: int
    body_end: int
    children: list[_Entity] = field(default_factory=list)

    @property
    def disposition(self) -> str | None:
        try:
            return self.mime.get_content_disposition()
        except Exception:  # noqa: BLE001 - an unreadable disposition is none
            return None

    @functools.cached_property
    def filename(self) -> str | None:
        return _filename(self.mime)

    @property
    def body(self) -> memoryview:
        return memoryview(self.buf)[self.body_start : self.body_end]


def parse_email(raw: bytes, *, limits: Limits | None = None, store: ContentStore | None = None) -> ParsedEmail:
    """Parse one email. Raises only `PermanentError` leaves (limits, or no email at all)."""
    return _Parser(limits or Limits(), store or DigestOnlyStore()).parse(raw)


class _Parser:
    def __init__(self, limits: Limits, store: ContentStore) -> None:
        self.limits = limits
        self.store = store
        self.defects: list[str] = []
        self.parts = 0
        self.decoded = 0
        self.attachments: list[Attachment] = []

    # ------------------------------------------------------------------ structure

    def parse(self, raw: bytes) -> ParsedEmail:
        if len(raw) > self.limits.max_message_bytes:
            raise MessageTooLargeError(f"message of {len(raw)} bytes exceeds {self.limits.max_message_bytes}")
        if not raw or raw.isspace():
            raise MalformedMessageError("empty message")
        root = self.entity(raw, 0, len(raw), 0, "text/plain")
        if not root.headers.fields:
            raise MalformedMessageError("no header field before the body")
        text_parts: list[_Entity] = []
        html_parts: list[_Entity] = []
        attachment_parts: list[tuple[_Entity, bool]] = []
        if root.children:
            _walk(root.children, root.content_type[10:], False, html_parts, text_parts, attachment_parts)
        else:
            _walk([root], "mixed", False, html_parts, text_parts, attachment_parts)
        text = self.body_text(text_parts, "text/plain")
        html = self.body_text(html_parts, "text/html")
        for part, inline in attachment_parts:
            self.attachment(part, inline)
        return self.result(root, text, html)

    def entity(self, buf: bytes, start: int, end: int, depth: int, default_type: str) -> _Entity:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise TooManyAttachmentsError(f"more than {self.limits.max_parts} MIME parts")
        if depth > self.limits.max_depth:
            raise NestingTooDeepError(f"MIME structure nests deeper than {self.limits.max_depth}")
        headers, body_start = hdr.split_headers(buf, start, end, self.limits.header, self.defects)
        mime = headers.mime()
        if default_type != "text/plain":
            mime.set_default_type(default_type)
        content_type = _content_type(mime, self.defects)
        part = _Entity(headers, mime, content_type, buf, body_start, end)
        if content_type.startswith("multipart/"):
            child_type = "message/rfc822" if content_type == "multipart/digest" else "text/plain"
            for s, e in self.split(part):
                part.children.append(self.entity(buf, s, e, depth + 1, child_type))
            if not part.children:
                self.defects.append("MultipartWithoutPartsDefect")
                part.content_type = "text/plain"
        return part

    def split(self, part: _Entity) -> list[tuple[int, int]]:
        """Offsets of the body parts of a multipart, by its boundary (or one found in the body)."""
        boundary = _boundary(part.mime)
        regions = _delimited(part.buf, part.body_start, part.body_end, boundary) if boundary else []
        if not regions:
            guessed = _guess_boundary(part.buf, part.body_start, part.body_end)
            if guessed and guessed != boundary:
                self.defects.append("BoundaryGuessedDefect")
                regions = _delimited(part.buf, part.body_start, part.body_end, guessed)
        return regions

    # ------------------------------------------------------------------ content

    def decode(self, part: _Entity, sink: Write) -> tuple[int, str]:
        """Decode a leaf body into `sink`; return (size, sha256 hex)."""
        cte = normalise_cte(part.headers.get("content-transfer-encoding"))
        limit = self.limits.max_decoded_bytes
        return self.counted(
            lambda write: self.defects.extend(decode_body(cte, part.body, write, gzip_limit=limit)), sink
        )

    def counted(self, produce: Callable[[Write], object], sink: Write) -> tuple[int, str]:
        """Run `produce` into `sink`, counting bytes against the decoded limit; return (size, sha256 hex)."""
        digest = hashlib.sha256()
        size = 0
        limit = self.limits.max_decoded_bytes

        def write(data: bytes) -> None:
            nonlocal size
            size += len(data)
            self.decoded += len(data)
            if self.decoded > limit:
                raise MessageTooLargeError(f"decoded content exceeds {limit} bytes")
            digest.update(data)
            sink(data)

        produce(write)
        return size, digest.hexdigest()

    def decoded_bytes(self, part: _Entity) -> bytes:
        chunks: list[bytes] = []
        self.decode(part, chunks.append)
        return b"".join(chunks)

    def body_text(self, parts: list[_Entity], wanted: str) -> str | None:
        texts = []
        for part in parts:
            if part.content_type != wanted:
                continue
            data = self.decoded_bytes(part)
            if wanted == "text/plain":
                data = self.extract_uuencoded(data)
            charset = _param(part.mime, "charset")
            if wanted == "text/html" and not charsets.known(charset):
                charset = _meta_charset(data) or charset
            texts.append(hdr.decode_text(data, charset))
        return "\n".join(texts) if texts else None

    def extract_uuencoded(self, data: bytes) -> bytes:
        """Add the uuencoded files of a text body as attachments (the text itself stays whole)."""
        if b"begin " not in data:
            return data
        blocks = find_uuencoded(data)
        if not blocks:
            return data
        for _, _, name, lines in blocks:
            chunks: list[bytes] = []
            decode_uu_block(lines, chunks.append)
            self.add_attachment(name, _guess_type(name), b"".join(chunks), inline=False)
        return data

    def attachment(self, part: _Entity, inline: bool) -> None:
        filename = part.filename
        content_type = part.content_type
        if is_tnef(content_type, filename):
            files = extract_tnef(self.decoded_bytes(part), self.limits.max_decoded_bytes, self.defects)
            if files is not None:
                for name, data in files:
                    self.add_attachment(name, _guess_type(name), data, inline=False)
                return
        nested = content_type in _NESTED_TYPES
        shown_name = filename
        if nested and not filename:
            subject = self.nested_subject(part)
            shown_name = f"{subject}.eml" if subject else None
        self.keep(
            filename,
            content_type,
            lambda sink: self.decode(part, sink),
            shown_name=shown_name,
            inline=inline,
            content_id=hdr.message_id(part.headers.get("content-id")),
            nested=nested,
        )

    def add_attachment(self, filename: str | None, content_type: str, data: bytes, *, inline: bool) -> None:
        """Keep a file found inside a part (TNEF, uuencode) as an attachment."""
        self.keep(filename, content_type, lambda sink: self.counted(lambda write: write(data), sink), inline=inline)

    def keep(
        self,
        filename: str | None,
        content_type: str,
        produce: Callable[[Write], tuple[int, str]],
        *,
        shown_name: str | None = None,
        inline: bool,
        content_id: str | None = None,
        nested: bool = False,
    ) -> None:
        """Number, name and store one attachment; `produce` writes its bytes and returns (size, sha256)."""
        index = self.reserve()
        filename = hdr.scrub(filename) if filename else filename
        safe = safe_filename(shown_name or filename, content_type, index + 1)
        writer = self.store.writer(index, safe)
        size, sha = produce(writer.write)
        self.attachments.append(
            Attachment(
                index=index,
                filename=filename,
                safe_filename=safe,
                content_type=content_type,
                size=size,
                sha256=sha,
                inline=inline,
                content_id=content_id,
                nested_message=nested,
                content=writer.close(),
            )
        )

    def reserve(self) -> int:
        if len(self.attachments) >= self.limits.max_attachments:
            raise TooManyAttachmentsError(f"more than {self.limits.max_attachments} attachments")
        return len(self.attachments)

    def nested_subject(self, part: _Entity) -> str | None:
        cte = normalise_cte(part.headers.get("content-transfer-encoding"))
        if cte in ("7bit", "8bit", "binary"):
            buf, start, end = part.buf, part.body_start, part.body_end
        else:
            # only the header section is wanted: decode a bounded prefix, not the whole message
            chunks: list[bytes] = []
            decode_body(cte, part.body[:_NESTED_HEAD_BYTES], chunks.append, gzip_limit=_NESTED_HEAD_BYTES)
            buf = b"".join(chunks)
            start, end = 0, len(buf)
        try:
            nested, _ = hdr.split_headers(buf, start, end, self.limits.header, [])
        except Exception:  # noqa: BLE001 - a name is a nicety; the limits apply when it is parsed
            return None
        return hdr.unstructured(nested.get("subject"))

    # ------------------------------------------------------------------ result

    def result(self, root: _Entity, text: str | None, html: str | None) -> ParsedEmail:
        h = root.headers
        seen: set[str] = set()
        for name, _ in h.fields:
            if name in _SINGLETONS:
                if name in seen:
                    self.defects.append(f"duplicate-{name}")
                seen.add(name)
        date = hdr.date(h.get("date"))
        to, cc = hdr.addresses(h.get_all("to")), hdr.addresses(h.get_all("cc"))
        recipients = [addr for _, addr in to + cc]
        for name in ("delivered-to", "x-original-to"):
            recipients += [addr for _, addr in hdr.addresses(h.get_all(name))]
        envelope: list[str] = []
        received = h.get("received")  # the topmost: SES's own, naming the recipient when there is one
        if received:
            match = _RECEIVED_FOR.search(received)
            if match:
                envelope.append(match.group(1).lower())
                recipients.append(match.group(1))
        return ParsedEmail(
            message_id=hdr.message_id(h.get("message-id")),
            subject=hdr.unstructured(h.get("subject")),
            date=date,
            from_=hdr.addresses(_first(h, "from")),
            to=to,
            cc=cc,
            reply_to=hdr.addresses(_first(h, "reply-to")),
            text=text,
            html=html,
            attachments=self.attachments,
            defects=sorted(set(self.defects)),
            verdicts=_verdicts(h),
            recipients=list(dict.fromkeys(r.lower() for r in recipients if "@" in r)),
            envelope_recipients=[r for r in envelope if "@" in r],
        )


# ---------------------------------------------------------------------- helpers

# RFC 5322 §3.6: fields a message has at most once. A second one is reported (`duplicate-from`) and
# never read: a second From (or Sender, Subject, Date, Message-ID) is how a spoofer hopes to be the
# sender one reader shows. To and Cc stay merged, so that no recipient is lost.
_SINGLETONS = frozenset(
    {"from", "sender", "reply-to", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to", "references"}
)


def _first(headers: hdr.Headers, name: str) -> list[str]:
    value = headers.get(name)
    return [] if value is None else [value]


def _walk(
    parts: list[_Entity],
    multipart_type: str,
    in_alternative: bool,
    html_body: list[_Entity] | None,
    text_body: list[_Entity] | None,
    attachments: list[tuple[_Entity, bool]],
) -> None:
    """RFC 8621 §4.1.4 parseStructure, with inline media always listed as attachments too."""
    text_length = len(text_body) if text_body is not None else -1
    html_length = len(html_body) if html_body is not None else -1
    for i, part in enumerate(parts):
        ctype = part.content_type
        media = ctype.startswith(_INLINE_MEDIA)
        is_inline = (
            part.disposition != "attachment"
            and (ctype in ("text/plain", "text/html") or media)
            and (i == 0 or (multipart_type != "related" and (media or not part.filename)))
        )
        if part.children:
            sub = ctype.split("/", 1)[1]
            _walk(part.children, sub, in_alternative or sub == "alternative", html_body, text_body, attachments)
        elif is_inline:
            if multipart_type == "alternative":
                if ctype == "text/plain" and text_body is not None:
                    text_body.append(part)
                elif ctype == "text/html" and html_body is not None:
                    html_body.append(part)
                else:
                    attachments.append((part, True))
                continue
            if media:
                attachments.append((part, True))
                continue
            if part.filename and ctype.startswith("text/"):
                attachments.append((part, True))  # a named text file is a file, and shown as text
            if in_alternative:
                if ctype == "text/plain":
                    html_body = None
                if ctype == "text/html":
                    text_body = None
            if text_body is not None:
                text_body.append(part)
            if html_body is not None:
                html_body.append(part)
        else:
            attachments.append((part, part.disposition == "inline"))
    if multipart_type == "alternative" and text_body is not None and html_body is not None:
        if text_length == len(text_body) and html_length != len(html_body):
            text_body.extend(html_body[html_length:])
        if html_length == len(html_body) and text_length != len(text_body):
            html_body.extend(text_body[text_length:])


def _delimited(buf: bytes, start: int, end: int, boundary: str) -> list[tuple[int, int]]:
    """Regions between `--boundary` lines (RFC 2046 §5.1.1: a line *starting* with it counts)."""
    delimiter = b"--" + boundary.encode("utf-8", errors="surrogateescape")
    found: list[tuple[int, int, bool]] = []  # (line start, next line start, closing)
    pos = start
    while True:
        i = buf.find(delimiter, pos, end)
        if i < 0:
            break
        pos = i + len(delimiter)
        if i != start and buf[i - 1] not in b"\r\n":
            continue
        nl = buf.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        closing = buf.startswith(b"--", pos, line_end)
        found.append((i, line_end, closing))
        if closing:
            break
        pos = line_end
    regions: list[tuple[int, int]] = []
    followers: list[tuple[int, int, bool] | None] = [*found[1:], None]
    for (_, body_start, closing), following in zip(found, followers[: len(found)], strict=True):
        if closing:
            break
        if following is None:
            regions.append((body_start, end))  # no closing delimiter: the part runs to the end
        else:
            stop = following[0]
            stop -= 1 if stop > body_start and buf[stop - 1] == 0x0A else 0
            stop -= 1 if stop > body_start and buf[stop - 1] == 0x0D else 0
            regions.append((body_start, stop))
    return regions


_BOUNDARY_LINE = re.compile(rb"^--([ -~]{1,200}?)[ \t]*\r?$", re.M)


def _guess_boundary(buf: bytes, start: int, end: int) -> str | None:
    """A boundary for a multipart that names none (or the wrong one): a `--x` line seen twice.

    Of those, the one whose first line comes first: a nested multipart's delimiters sit between
    the outer ones, so they may repeat before the outer one does.
    """
    first: dict[bytes, int] = {}
    repeated: set[bytes] = set()
    for match in _BOUNDARY_LINE.finditer(buf, start, min(end, start + 64 * 1024)):
        token = match.group(1).removesuffix(b"--")
        if token in first:
            repeated.add(token)
        else:
            first[token] = match.start()
    if not repeated:
        return None
    return min(repeated, key=first.__getitem__).decode("latin-1")


def _boundary(mime: Message) -> str | None:
    """The boundary parameter exactly as written: the stdlib strips trailing spaces, which count.

    Also when the `;` before it was left out (`multipart/mixed boundary="b"`).
    """
    quoted = _raw_param(mime.get("content-type"), "boundary")
    if quoted is not None:
        return quoted or None
    try:
        boundary = mime.get_boundary()
    except Exception:  # noqa: BLE001
        boundary = None
    if not boundary:
        value = mime.get("content-type")
        match = _LOOSE_BOUNDARY.search(value) if isinstance(value, str) else None
        boundary = match.group(1) if match else None
    return boundary or None


_LOOSE_BOUNDARY = re.compile(r"""[\s;]boundary\s*=\s*"?([^\s;"]+)""", re.I)


def _raw_param(value: object, name: str) -> str | None:
    """A quoted parameter's value unquoted per RFC 5322 (`\\x` is `x`); None if not quoted."""
    if not isinstance(value, str):
        return None
    match = re.search(rf'(?:^|;)\s*{name}\s*=\s*"((?:[^"\\]|\\.)*)"', value, re.I)
    return re.sub(r"\\(.)", r"\1", match.group(1)) if match else None


def _content_type(mime: Message, defects: list[str]) -> str:
    """The media type, lower-case; `application/octet-stream` when unreadable.

    A multipart whose subtype is missing, a wildcard or malformed (Outlook's `multipart/*`) is
    multipart/mixed, as RFC 2046 §5.1.7 says of unrecognised subtypes: its parts are still parts.
    """
    value = mime.get("content-type")
    if isinstance(value, str):
        head = _MULTIPART.match(value)
        if head:
            subtype = head.group(1)
            if subtype:
                return f"multipart/{subtype.lower()}"
            defects.append("InvalidMultipartSubtypeDefect")
            return "multipart/mixed"
    try:
        ctype = mime.get_content_type()
    except Exception:  # noqa: BLE001
        return "text/plain"
    return ctype if _MEDIA_TYPE.fullmatch(ctype) else "application/octet-stream"


_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
# `multipart`, then the subtype's run of token characters, if any (what follows it does not matter)
_MULTIPART = re.compile(r"""\s*["']?\s*multipart(?![a-z0-9!#$&^_.+-])\s*(?:/\s*([a-z0-9!#$&^_.+-]*))?""", re.I)


def _param(mime: Message, name: str) -> str | None:
    try:
        value = mime.get_param(name)
    except Exception:  # noqa: BLE001
        return None
    if isinstance(value, tuple):
        return _rfc2231(value)
    return value if isinstance(value, str) else None


def _filename(mime: Message) -> str | None:
    """The name the sender gave: Content-Disposition filename, Content-Type name, or `file=`.

    Quoted strings are unquoted as RFC 5322 says (`\\x` is `x`); RFC 2231 and 2047 are decoded.
    """
    for header, param in _NAME_PARAMS:
        try:
            value = mime.get_param(param, header=header, unquote=False)
        except Exception:  # noqa: BLE001 - malformed parameters give no name
            return None
        if value is None:
            continue
        if isinstance(value, tuple):
            name = _rfc2231(value).strip('"')
        else:
            name = _raw_param(mime.get(header), param) or _unquote(value)
        name = hdr.decode_words(name).strip()
        if name:
            return name
    return None


def _rfc2231(value: tuple[str | None, str | None, str]) -> str:
    """An RFC 2231 `name*=charset'lang'%XX` value, decoded by `charsets` (labels the stdlib lacks too)."""
    charset, _, text = value
    try:  # the stdlib holds the %-decoded bytes as Latin-1 characters; raw 8-bit text may be wider
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    return hdr.decode_text(data, charset or None)


_NAME_PARAMS = (
    ("content-disposition", "filename"),
    ("content-type", "name"),
    ("content-disposition", "file"),
    ("content-type", "file"),
)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


_META_CHARSET = re.compile(rb"""<meta\b[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]{1,40})""", re.I)


def _meta_charset(html: bytes) -> str | None:
    """The charset an HTML part declares in a `<meta>` of its first 4 KB (for parts whose header names none)."""
    match = _META_CHARSET.search(html, 0, 4096)
    return match.group(1).decode("ascii") if match and charsets.known(match.group(1).decode("ascii")) else None


def _guess_type(name: str | None) -> str:
    return (mimetypes.guess_type(name or "")[0]) or "application/octet-stream"


def _verdicts(h: hdr.Headers) -> Verdicts:
    results: dict[str, str] = {}
    for value in h.get_all("authentication-results"):
        for method, result in _AUTH_RESULT.findall(value):
            results.setdefault(method.lower(), result.lower())
    spf = h.get("received-spf")
    if spf and "spf" not in results:
        results["spf"] = spf.split()[0].lower() if spf.split() else ""

    def verdict(name: str) -> str | None:
        value = h.get(name)
        return value.strip().upper() if value else None

    return Verdicts(
        spam=verdict("x-ses-spam-verdict"),
        virus=verdict("x-ses-virus-verdict"),
        spf=results.get("spf"),
        dkim=results.get("dkim"),
        dmarc=results.get("dmarc"),
    )
