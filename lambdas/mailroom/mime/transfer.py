"""Content-Transfer-Encoding decoders: C-speed, chunked, writing straight to a callback.

Large base64 bodies are the bulk of a scanner mail, so they are decoded in fixed-size chunks: no
line-by-line Python loop, no second copy of the part. A clean chunk (alphabet, line breaks and
blanks only) goes to pybase64's SIMD decoder in its strict mode, about 6x `binascii.a2b_base64`,
which was most of the parse time of a 1 MB mail; any chunk it refuses takes the lenient path
(`bytes.translate` drops everything outside the alphabet, then `binascii`), so the bytes out are
the same either way. Without pybase64 installed, `binascii` does it all.
"""

from __future__ import annotations

import binascii
import re
import zlib
from collections.abc import Callable, Iterator

from mailroom.errors import DecompressionLimitError

try:
    import pybase64
except ImportError:  # pragma: no cover - the Lambda package and the dev install both ship it
    pybase64 = None  # type: ignore[assignment]

Write = Callable[[bytes], object]

CHUNK = 1 << 20
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_B64 = bytes(sorted(set(range(256)) - set(_B64_ALPHABET)))
_B64_TEXT = _B64_ALPHABET + b"= \t\r\n"
_BLANKS = b" \t\r\n"
# Possessive runs and a greedy name (trailing blanks are stripped after the match): a lazy name
# followed by `[ \t]*` backtracks quadratically over a long run of blanks (a 40 KB line took 25 s).
_UU_BEGIN = re.compile(rb"^begin(?:-base64)?[ \t]++([0-7]{3,4})[ \t]++([^\r\n]+)\r?$", re.M)
_UU_END = re.compile(rb"^end[ \t]*\r?$", re.M)


def normalise_cte(value: str | None) -> str:
    """The encoding token: lower-cased, stray whitespace and quotes removed (`base64 ` is base64)."""
    if not value:
        return "7bit"
    token = value.strip().strip("\"'").strip().lower()
    return token.split(";")[0].strip() or "7bit"


def decode_base64(data: memoryview, write: Write) -> bool:
    """Decode base64 in chunks; return False when the input was damaged (data still recovered).

    As RFC 2045 §6.8 says: characters outside the alphabet are ignored and `=` ends the data. A
    final quantum without its padding is completed when the data was otherwise clean (an encoder
    that omits padding) and dropped when junk was skipped (it is most likely junk itself).
    Chunks end at line ends, so well-formed bodies go straight to `a2b_base64` (which skips line
    breaks itself); only a chunk it refuses takes the slower path that realigns quanta.
    """
    carry = b""
    junk = False
    offset, size = 0, len(data)
    while offset < size:
        end = _line_end_before(data, offset, min(offset + CHUNK, size))
        raw = bytes(data[offset:end])
        offset = end
        pad = raw.find(b"=")
        if pad >= 0:
            raw = raw[:pad]
        elif not carry:
            try:
                write(strict_base64(raw))
                continue
            except (binascii.Error, ValueError):
                pass  # junk, or a quantum spans the chunk's end: realign below
        junk = junk or bool(raw.translate(None, _B64_TEXT))
        chunk = carry + raw.translate(None, _NOT_B64)
        usable = len(chunk) - len(chunk) % 4
        if usable:
            write(binascii.a2b_base64(chunk[:usable]))
        carry = chunk[usable:]
        if pad >= 0:
            break
    if len(carry) == 1 or (carry and junk):
        return False
    if carry:
        write(binascii.a2b_base64(carry + b"=" * (4 - len(carry))))
    return not junk


def strict_base64(data: bytes) -> bytes:
    """Base64 made of the alphabet, line breaks and blanks only, in whole quanta; else binascii.Error.

    No `=` is expected (the caller cuts the data before the first one).
    """
    if pybase64 is not None:
        return pybase64.b64decode(data, ignorechars=_BLANKS)
    if data.translate(None, _B64_TEXT):
        raise binascii.Error("characters outside the alphabet")
    return binascii.a2b_base64(data)


def _line_end_before(data: memoryview, start: int, end: int) -> int:
    """`end`, moved back to just after the last line break in the 4 KiB before it (if any)."""
    if end >= len(data):
        return end
    window_start = max(start, end - 4096)
    newline = bytes(data[window_start:end]).rfind(b"\n")
    return window_start + newline + 1 if newline >= 0 else end


def decode_quoted_printable(data: memoryview, write: Write) -> None:
    """Decode quoted-printable, chunked on line boundaries."""
    start = 0
    size = len(data)
    while start < size:
        end = min(start + CHUNK, size)
        if end < size:
            nl = bytes(data[end - 1 : min(end + 1024, size)]).find(b"\n")
            end = end + nl if nl >= 0 else min(end + 1024, size)
        write(binascii.a2b_qp(bytes(data[start:end])))
        start = end


def decode_uu_block(lines: list[bytes], write: Write) -> None:
    """Decode the lines between `begin` and `end` of a uuencoded file."""
    for line in lines:
        line = line.rstrip(b"\r\n")
        if not line or line in (b"`", b" "):
            continue
        try:
            write(binascii.a2b_uu(line))
        except binascii.Error:
            # some encoders pad lines with garbage: decode exactly the declared length
            count = ((line[0] - 32) & 63) * 4 + 5
            try:
                write(binascii.a2b_uu(line[: count // 3]))
            except binascii.Error:
                continue


def find_uuencoded(text: bytes) -> list[tuple[int, int, str, list[bytes]]]:
    """Uuencoded files inside a text body: (start, end, name, encoded lines) each."""
    found: list[tuple[int, int, str, list[bytes]]] = []
    pos = 0
    while True:
        begin = _UU_BEGIN.search(text, pos)
        if not begin:
            return found
        end = _UU_END.search(text, begin.end())
        if not end:
            return found
        body = text[begin.end() : end.start()]
        lines = body.strip(b"\r\n").split(b"\n")
        name = begin.group(2).rstrip(b" \t").decode("utf-8", errors="replace")
        found.append((begin.start(), end.end(), name, lines))
        pos = end.end()


def decode_uuencode(data: memoryview, write: Write) -> None:
    """Decode a part whose Content-Transfer-Encoding is x-uuencode (all blocks, in order)."""
    text = bytes(data)
    blocks = find_uuencoded(text)
    if not blocks:
        decode_uu_block(text.split(b"\n"), write)
    for _, _, _, lines in blocks:
        decode_uu_block(lines, write)


def gunzip_bounded(data: bytes, limit: int, write: Write) -> None:
    """Decompress gzip data into `write`, refusing to expand beyond `limit` bytes (a decompression bomb).

    Data that is not gzip is written as it is. The size is measured first, a chunk at a time, then
    the data is decompressed again into `write`: decompressing straight to `limit + 1` bytes held
    twice that in memory (a 1 MB bomb took 420 MB) before it could be refused.
    """
    size = 0
    try:
        for chunk in _inflated(data):
            size += len(chunk)
            if size > limit:
                raise DecompressionLimitError(f"x-gzip64 part expands beyond {limit} bytes")
    except zlib.error:
        write(data)
        return
    for chunk in _inflated(data):
        write(chunk)


def _inflated(data: bytes) -> Iterator[bytes]:
    """gzip `data` decompressed `CHUNK` bytes at a time (a truncated stream ends early; damage raises)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    chunk = inflater.decompress(data, CHUNK)
    while True:
        if chunk:
            yield chunk
        tail = inflater.unconsumed_tail
        if inflater.eof or not (chunk or tail):
            return
        chunk = inflater.decompress(tail, CHUNK)


def decode_body(cte: str, data: memoryview, write: Write, *, gzip_limit: int) -> list[str]:
    """Decode one leaf body by its (normalised) transfer encoding; return the defects seen."""
    defects: list[str] = []
    if cte == "base64":
        if not decode_base64(data, write):
            defects.append("InvalidBase64LengthDefect")
    elif cte == "quoted-printable":
        decode_quoted_printable(data, write)
    elif cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        decode_uuencode(data, write)
    elif cte == "x-gzip64":
        buffer = bytearray()
        decode_base64(data, buffer.extend)
        gunzip_bounded(bytes(buffer), gzip_limit, write)
    else:
        if cte not in ("7bit", "8bit", "binary"):
            defects.append("UnknownTransferEncodingDefect")
        for offset in range(0, len(data), CHUNK):
            write(bytes(data[offset : offset + CHUNK]))
    return defects
