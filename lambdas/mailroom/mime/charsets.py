"""Charset labels as mailers write them → text, with replacement, never an exception.

Python's codec registry knows the standard names but not many labels real mail carries
(`iso-8859-8-i`, `x-mac-cyrillic`, `windows-874`, `unicode-1-1-utf-7`), and its codecs for some
labels are narrower than what the sending mailers mean: Outlook's `ks_c_5601-1987` is cp949,
`gb2312` mail holds GBK/GB18030 characters, `shift_jis` is Windows' cp932, and ISO-2022-JP from
Japanese mailers carries the NEC and IBM extensions of cp932 (circled digits, `№`, `㈱`), which no
Python `iso2022_jp*` codec decodes (not even `iso2022_jp_ext`). The table follows the WHATWG
Encoding Standard's labels where it has them; ISO-2022-JP with those extensions is decoded here by
rewriting its JIS rows to Shift_JIS and decoding with cp932 (Microsoft's CP50220/CP50221 mapping).

Policy: a part decodes in its declared charset, with replacement. Another charset is tried only
when the declared one clearly fails: a supersets' chain (`big5` → cp950 → big5hkscs), or, for a
multi-byte charset whose strict decode fails, UTF-8 when the bytes are valid UTF-8. UTF-8 (declared
or assumed) gives way to cp1252 only when stray invalid bytes outnumber its valid multi-byte (and
cut-off) characters: a few bad bytes in real UTF-8 become U+FFFD each, never mojibake for the part.
"""

from __future__ import annotations

import codecs
import functools
import re

UTF8 = "utf-8"
DETECT = "detect"  # no usable label: UTF-8 when it fits, else cp1252
ISO2022JP_MS = "iso-2022-jp-ms"  # ISO-2022-JP read through cp932 (NEC/IBM extensions)

_ISO2022JP = ("iso2022_jp", ISO2022JP_MS, "iso2022_jp_ext", "iso2022_jp_2")
_EUCJP = ("euc_jp", "euc_jis_2004")
_BIG5 = ("big5", "cp950", "big5hkscs")
_HEBREW = ("iso8859_8",)
_ARABIC = ("iso8859_6",)
_THAI = ("cp874",)
_KOREAN = ("cp949",)
_CHINESE = ("gb18030",)
_JAPANESE = ("cp932",)
_LATIN1 = ("cp1252", "latin-1")  # as mail clients read ISO-8859-1: C1 bytes are Windows' quotes and dashes

# (codecs to try, strictly, in order; the labels, each with every non-alphanumeric removed)
_LABELS: tuple[tuple[tuple[str, ...], str], ...] = (
    # no real charset: decide from the bytes
    (
        (DETECT,),
        "ascii usascii us ansix341968 ansix341986 iso646us iso646irv1991 cp367 ibm367 csascii isoir6 "
        "7bit 8bit unknown unknown8bit xunknown xuserdefined default none charset text plain",
    ),
    # Unicode
    ((UTF8,), "utf8 unicode11utf8 unicode20utf8 xunicode20utf8 utf8mb3 utf8mb4 cp65001"),
    (("utf-7",), "utf7 unicode11utf7 csunicode11utf7 xunicode20utf7 unicode20utf7"),
    (("utf-16",), "ucs2 iso10646ucs2 csunicode"),
    (("utf-32",), "ucs4 iso10646ucs4"),
    # Latin-1 as Windows writes it
    (_LATIN1, "iso88591 iso885911987 latin1 l1 cp819 ibm819 csisolatin1 isoir100"),
    # ISO-8859 visual/implicit/explicit variants (RFC 1555, RFC 1556): the same characters
    (_HEBREW, "iso88598i iso88598e csiso88598i csiso88598e iso885981988 logical visual"),
    (_ARABIC, "iso88596i iso88596e csiso88596i csiso88596e iso885961987 asmo708 ecma114"),
    (_THAI, "windows874 xwindows874 dos874 ibm874 cp874 tis620 iso885911 isoir166 xmacthai"),
    # East Asian labels whose everyday meaning is a Windows superset
    (
        _KOREAN,
        "ksc56011987 ksc56011989 ksc5601 ksc korean csksc56011987 isoir149 euckr cseuckr xeuckr "
        "windows949 xwindows949 cp949 uhc ms949 xmackorean",
    ),
    (
        _CHINESE,
        "gb2312 gb231280 csgb2312 csiso58gb231280 isoir58 chinese euccn xeuccn gbk xgbk cp936 ms936 "
        "windows936 gb18030 xmacchinesesimp",
    ),
    (_BIG5, "big5 cnbig5 csbig5 xxbig5 big5eten xmacchinesetrad"),
    (("big5hkscs", "big5"), "big5hkscs big5hkscs2004 big5hkscs2008 cp951"),
    (_JAPANESE, "shiftjis sjis xsjis mskanji csshiftjis windows31j ms932 xmscp932 cp932 xmacjapanese sjiswin sjisopen"),
    (_ISO2022JP, "iso2022jp csiso2022jp iso2022jpms cp50220 cp50221 cp50222 jis xiso2022jp"),
    (("iso2022_jp_2", ISO2022JP_MS, "iso2022_jp_ext"), "iso2022jp2 csiso2022jp2"),
    (("iso2022_jp_1", ISO2022JP_MS, "iso2022_jp_2"), "iso2022jp1"),
    (("iso2022_jp_ext", ISO2022JP_MS, "iso2022_jp_2"), "iso2022jpext"),
    (_EUCJP, "eucjp xeucjp cseucpkdfmtjapanese eucjpms cp51932 eucjpwin eucjpopen"),
    # Apple's legacy charsets as mailers label them
    (("mac_roman",), "xmacroman macintosh macroman csmacintosh mac"),
    (("mac_cyrillic",), "xmaccyrillic maccyrillic xmacukrainian"),
    (("mac_latin2",), "xmacce xmaccentraleurope xmaccentraleurroman maccentraleurope maclatin2"),
    (("mac_greek",), "xmacgreek macgreek"),
    (("mac_turkish",), "xmacturkish macturkish"),
    (("mac_iceland",), "xmacicelandic xmaciceland maciceland"),
    (("mac_croatian",), "xmaccroatian maccroatian"),
    (("mac_romanian",), "xmacromanian macromanian"),
    (("mac_arabic",), "xmacarabic macarabic"),
    (("mac_farsi",), "xmacfarsi macfarsi"),
    # other labels Python does not know
    (("iso8859_15",), "latin9 l9 iso885915 csisolatin9"),
    (("iso8859_16",), "latin10 l10 iso885916"),
    (("koi8_r",), "koi8 cskoi8r koi8r"),
    (("koi8_u",), "koi8u koi8ru"),
)
ALIASES: dict[str, tuple[str, ...]] = {label: chain for chain, labels in _LABELS for label in labels.split()}
_WINDOWS = re.compile(r"(?:x)?(?:windows|win|cp|ms|ibm|dos)(\d{3,5})")
_ISO8859 = re.compile(r"(?:iso)?8859(\d{1,2})(?:\d{4})?[ie]?")
# Codecs that are no charsets and cannot even replace what they refuse: punycode, IDNA, `undefined`.
# (The escape codecs are kept, as before: whatever lone surrogates they make, `headers.scrub` replaces.)
_NOT_CHARSETS = frozenset({"punycode", "idna", "undefined", "mbcs", "oem"})
_HIGH_BYTES = bytes(range(0x80, 0x100))
_FFFD_UTF8 = "\ufffd".encode()


def squash(label: str) -> str:
    """A label lower-cased with everything but letters and digits removed (`ISO_8859-8-i` → `iso88598i`)."""
    return re.sub(r"[^a-z0-9]", "", label.lower())


@functools.lru_cache(maxsize=512)
def resolve(label: str | None) -> tuple[str, ...]:
    """The codecs to try, in order, for a charset label; `(DETECT,)` when the label names none we can use."""
    if not label:
        return (DETECT,)
    name = re.sub(r"(?i)^\s*charset\s*=", "", label).strip().strip("\"'").strip()  # `charset="charset=utf-8"`
    name = re.split(r"[\s;,]", name, maxsplit=1)[0].strip("\"'")
    key = squash(name)
    if key in ALIASES:
        return ALIASES[key]
    candidates = [name, key]
    match = _WINDOWS.fullmatch(key)
    if match:
        candidates.append(f"cp{match.group(1)}")
    match = _ISO8859.fullmatch(key)
    if match:
        candidates.append(f"iso8859_{match.group(1)}")
    for candidate in candidates:
        codec = _text_codec(candidate)
        if codec:
            return ALIASES.get(squash(codec), (codec,))
    return (DETECT,)


def _text_codec(name: str) -> str | None:
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):  # unknown names, and names holding NUL bytes
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in _NOT_CHARSETS:
        return None
    return info.name


def known(label: str | None) -> bool:
    """Whether `label` names a charset this module decodes (not a guess from the bytes)."""
    return resolve(label) != (DETECT,)


def decode(data: bytes, label: str | None) -> str:
    """`data` as text in the charset `label` names (see the module's policy); never raises."""
    chain = resolve(label)
    if chain[0] in (DETECT, UTF8):
        return utf8_or_cp1252(data)
    for codec in chain:
        text = _strict(data, codec)
        if text is not None:
            return text
    if data.translate(None, _HIGH_BYTES) != data:
        text = _strict(data, UTF8)
        if text is not None:
            return text  # the declared charset clearly fails, and the bytes are valid UTF-8
    return _replace(data, ISO2022JP_MS if ISO2022JP_MS in chain else chain[0])


def utf8_lenient(data: bytes) -> str | None:
    """`data` as UTF-8 with replacement when the bytes look like UTF-8 with damage; None when they do not.

    Evidence for UTF-8: valid multi-byte characters, and sequences cut short after a valid start
    (a lead byte and its continuation bytes, then the end: what a client that truncates a name by
    bytes leaves). Evidence against: single stray bytes, as in Latin-1 text (`Fr\\xf6sche`). UTF-8
    wins unless the stray bytes outnumber its evidence, so a few bad bytes never turn it down.
    """
    try:
        return data.decode(UTF8)
    except UnicodeDecodeError:
        pass
    text = data.decode(UTF8, "replace")
    invalid = text.count("\ufffd") - data.count(_FFFD_UTF8)  # maximal invalid subparts, one U+FFFD each
    invalid_bytes = invalid + len(data.decode(UTF8, "surrogateescape")) - len(text)  # one surrogate per byte
    valid = len(text) - len(data.translate(None, _HIGH_BYTES)) - invalid  # non-ASCII characters that decoded
    cut = invalid_bytes - invalid  # continuation bytes inside invalid subparts: cut-off characters
    return text if valid + cut >= invalid - cut else None


def utf8_or_cp1252(data: bytes) -> str:
    """UTF-8 with replacement (`utf8_lenient`), unless the bytes clearly are no UTF-8: then cp1252."""
    text = utf8_lenient(data)
    return text if text is not None else data.decode("cp1252", "replace")


def _strict(data: bytes, codec: str) -> str | None:
    try:
        if codec == ISO2022JP_MS:
            return decode_iso2022jp_ms(data, "strict")
        return data.decode(codec)
    except Exception:  # noqa: BLE001 - UnicodeError, and e.g. utf-7 raising others on bad input
        return None


def _replace(data: bytes, codec: str) -> str:
    try:
        if codec == ISO2022JP_MS:
            return decode_iso2022jp_ms(data, "replace")
        return data.decode(codec, "replace")
    except Exception:  # noqa: BLE001 - a codec that cannot replace: the bytes as UTF-8
        return data.decode(UTF8, "replace")


# ---------------------------------------------------------------------------------- ISO-2022-JP

_ISO2022JP_SHIFTS = re.compile(rb"(\x1b\$[@B]|\x1b\$\(D|\x1b\([BJHI]|\x0e|\x0f)")
_JIS_RUN = re.compile(rb"[\x21-\x7e]+|[^\x21-\x7e]+")


def _table(pairs: dict[int, int]) -> bytes:
    return bytes(pairs.get(b, 0) for b in range(256))


# JIS X 0208 (rows 0x21-0x7E, NEC row 13 and the IBM rows included) → Shift_JIS, one table per byte:
# the lead byte depends on the row only, the trail byte on the cell and on whether the row is odd.
_JIS = range(0x21, 0x7F)
_SJIS_LEAD = _table({j1: (j1 + 1) // 2 + (0x70 if j1 <= 0x5E else 0xB0) for j1 in _JIS})
_ODD_ROW = _table({j1: 0xFF for j1 in _JIS if j1 % 2})
_SJIS_TRAIL_ODD = _table({j2: j2 + (0x1F if j2 <= 0x5F else 0x20) for j2 in _JIS})
_SJIS_TRAIL_EVEN = _table({j2: j2 + 0x7E for j2 in _JIS})


_KANA_TO_CP932 = _table({b: b + 0x80 if b >= 0x21 else b for b in range(0x60)})
_NOT_KANA = re.compile(rb"([^\x00-\x5f]+)")
_KANA_BYTES = bytes(range(0x60))
_JIS_BYTES = bytes(range(0x21, 0x7F))


def _jis_to_sjis(run: bytes) -> bytes:
    """An even-length run of JIS X 0208 bytes as Shift_JIS, at C speed (no loop per character).

    The trail byte is chosen per character by the row's parity, with the parity as a byte mask
    over the whole run: (odd-row trail & mask) | (even-row trail & ~mask), on big integers.
    """
    rows, cells = run[0::2], run[1::2]
    size = len(cells)
    mask = int.from_bytes(rows.translate(_ODD_ROW), "big")
    odd = int.from_bytes(cells.translate(_SJIS_TRAIL_ODD), "big")
    even = int.from_bytes(cells.translate(_SJIS_TRAIL_EVEN), "big")
    trail = ((odd & mask) | (even & ~mask & ((1 << 8 * size) - 1))).to_bytes(size, "big")
    out = bytearray(2 * size)
    out[0::2] = rows.translate(_SJIS_LEAD)
    out[1::2] = trail
    return bytes(out)


def decode_iso2022jp_ms(data: bytes, errors: str) -> str:
    """ISO-2022-JP as Japanese mailers write it: JIS X 0208 with cp932's NEC and IBM rows (CP50221).

    JIS X 0208 runs are rewritten to Shift_JIS and decoded with cp932; JIS X 0201 Katakana (`ESC ( I`
    or SO/SI) likewise; JIS X 0212 (`ESC $ ( D`) goes to Python's iso2022_jp_2. An escape sequence
    not listed here raises UnicodeDecodeError (in strict mode), so the caller tries other codecs.
    """
    pieces = _ISO2022JP_SHIFTS.split(data)
    if len(pieces) > _fragments_allowed(data):  # a flood of shifts: Python's C decoder, without cp932's rows
        return data.decode("iso2022_jp_2", errors)
    out: list[str] = []
    mode = b"\x1b(B"
    for i, piece in enumerate(pieces):
        if i % 2:
            mode = b"\x1b(I" if piece == b"\x0e" else b"\x1b(B" if piece == b"\x0f" else piece
            continue
        if not piece:
            continue
        if b"\x1b" in piece and errors == "strict":
            raise UnicodeDecodeError("iso-2022-jp", data, 0, len(data), "unknown escape sequence")
        if mode in (b"\x1b$@", b"\x1b$B"):
            out.append(_jis0208(piece, errors))
        elif mode == b"\x1b(I":
            out.append(_kana(piece, errors))
        elif mode == b"\x1b$(D":
            out.append((mode + piece + b"\x1b(B").decode("iso2022_jp_2", errors))
        else:  # ASCII and JIS X 0201 Roman
            out.append(piece.decode("ascii", errors))
    return "".join(out)


def _jis0208(piece: bytes, errors: str) -> str:
    if len(piece.translate(None, _JIS_BYTES)) > _fragments_allowed(piece):  # junk at every turn: the C decoder
        return (b"\x1b$B" + piece + b"\x1b(B").decode("iso2022_jp_2", errors)
    out: list[str] = []
    for run in _JIS_RUN.findall(piece):
        if run[0] < 0x21 or run[0] > 0x7E:
            out.append(run.decode("ascii", errors))  # line breaks and spaces inside a 2-byte run
            continue
        out.append(_jis_to_sjis(run[: len(run) - len(run) % 2]).decode("cp932", errors))
        if len(run) % 2:
            out.append(_invalid(piece, errors))  # half a character
    return "".join(out)


def _kana(piece: bytes, errors: str) -> str:
    """JIS X 0201 Katakana bytes (0x21-0x5F, cp932's 0xA1-0xDF); controls pass; other bytes are invalid."""
    if len(piece.translate(None, _KANA_BYTES)) > _fragments_allowed(piece):
        return (b"\x1b(I" + piece + b"\x1b(B").decode("iso2022_jp_ext", errors)
    out: list[str] = []
    for i, run in enumerate(_NOT_KANA.split(piece)):
        out.append(_invalid(piece, errors) * len(run) if i % 2 else run.translate(_KANA_TO_CP932).decode("cp932"))
    return "".join(out)


def _fragments_allowed(data: bytes) -> int:
    """How many pieces the Python loops here may take for `data`: real text has few; junk has one per byte."""
    return 64 + len(data) // 4


def _invalid(data: bytes, errors: str) -> str:
    if errors == "strict":
        raise UnicodeDecodeError("iso-2022-jp", data, 0, len(data), "invalid byte in a JIS run")
    return "\ufffd"
