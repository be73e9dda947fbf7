"""Real-world mail the parser once got wrong (issue 15): one synthetic message per class of defect.

Each class: a wildcard or unknown multipart subtype, a few bad bytes in a UTF-8 part, a raw 8-bit
parameter cut inside a character, charset labels Python does not know, and repeated singleton
fields. The messages are written here, by hand, the way the offending mailers write them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mail_factory import CRLF, b64_lines
from mailroom.mime import ParsedEmail, charsets, parse_email
from mailroom.mime.headers import decode_header_bytes, decode_text, decode_words

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def message(head: str, body: bytes | str) -> bytes:
    """`head` (CRLF-separated fields, no blank line) + blank line + `body`."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return f"From: a@example.com{CRLF}To: b@example.com{CRLF}{head}{CRLF}{CRLF}".encode() + data


# ------------------------------------------------------------------------ multipart subtypes


def outlook_mail(content_type: str) -> bytes:
    """A text+html note and three images under a multipart whose type line is `content_type`."""
    images = "".join(
        f'--b{CRLF}Content-Type: image/png; name="img{i}.png"{CRLF}Content-Transfer-Encoding: base64{CRLF}'
        f'Content-Disposition: attachment; filename="img{i}.png"{CRLF}{CRLF}{b64_lines(PNG + bytes([i]))}{CRLF}'
        for i in range(3)
    )
    body = (
        f'--b{CRLF}Content-Type: multipart/alternative; boundary="alt"{CRLF}{CRLF}'
        f"--alt{CRLF}Content-Type: text/plain; charset=utf-8{CRLF}{CRLF}Quarterly figures attached.{CRLF}"
        f"--alt{CRLF}Content-Type: text/html; charset=utf-8{CRLF}{CRLF}<p>Quarterly figures attached.</p>{CRLF}"
        f"--alt--{CRLF}{images}--b--{CRLF}"
    )
    return message(f"Subject: figures{CRLF}Content-Type: {content_type}", body)


@pytest.mark.parametrize(
    "content_type",
    [
        'multipart/*; boundary="b"',  # Outlook
        "multipart/*; boundary=b",
        'Multipart/*;boundary="b"',
        'multipart; boundary="b"',  # no subtype at all
        'multipart/; boundary="b"',
        'multipart/x-unknown-subtype; boundary="b"',  # a subtype nobody registered
        'multipart/mixed boundary="b"',  # the semicolon forgotten: the boundary is found in the body
        'multipart / mixed; boundary="b"',
    ],
)
def test_wildcard_or_unknown_multipart_subtype_parses_as_mixed(content_type: str) -> None:
    result = parse_email(outlook_mail(content_type))
    assert result.text == "Quarterly figures attached."
    assert result.html == "<p>Quarterly figures attached.</p>"
    assert [(a.filename, a.content_type, a.sha256) for a in result.attachments] == [
        (f"img{i}.png", "image/png", sha(PNG + bytes([i]))) for i in range(3)
    ]


def test_wildcard_multipart_is_reported_as_a_defect() -> None:
    assert "InvalidMultipartSubtypeDefect" in parse_email(outlook_mail('multipart/*; boundary="b"')).defects
    assert "InvalidMultipartSubtypeDefect" not in parse_email(outlook_mail('multipart/mixed; boundary="b"')).defects


def test_a_type_that_only_starts_like_multipart_is_no_multipart() -> None:
    raw = message('Content-Type: multipartial/x; boundary="b"', f"--b{CRLF}{CRLF}x{CRLF}--b--{CRLF}")
    (attachment,) = parse_email(raw).attachments
    assert attachment.content_type == "multipartial/x"


# ------------------------------------------------------------------------ bad bytes in UTF-8 text

GREEK = "Καλημέρα κόσμε, ευχαριστώ για την παραγγελία σας. "


def html_part(payload: bytes, charset: str | None = "utf-8", cte: str = "8bit") -> bytes:
    ctype = "text/html" + (f"; charset={charset}" if charset else "")
    if cte == "base64":
        payload = b64_lines(payload).encode()
    elif cte == "quoted-printable":
        payload = "".join(f"={b:02X}" if b >= 0x80 or b == 0x3D else chr(b) for b in payload).encode()
    return message(f"Subject: s{CRLF}Content-Type: {ctype}{CRLF}Content-Transfer-Encoding: {cte}", payload)


@pytest.mark.parametrize("cte", ["8bit", "base64", "quoted-printable"])
@pytest.mark.parametrize(
    "bad",
    [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\x80\x80"],
    ids=["invalid byte", "lead byte alone", "cut 3-byte sequence", "surrogate", "stray continuations"],
)
def test_a_few_bad_bytes_in_a_utf8_part_become_replacement_characters_only(bad: bytes, cte: str) -> None:
    good = ("<p>" + GREEK * 40 + "</p>").encode()  # about 8 KB
    middle = len(good) // 2 - len(good) // 2 % 2
    middle = good.rfind(b" ", 0, middle) + 1  # at a character boundary
    html = parse_email(html_part(good[:middle] + bad + good[middle:], cte=cte)).html
    assert html is not None
    head, _, tail = html.partition("\ufffd")
    assert head == good[:middle].decode()
    assert tail.lstrip("\ufffd") == good[middle:].decode()
    assert html.count("\ufffd") <= len(bad)


def test_utf8_part_cut_inside_its_last_character_ends_in_one_replacement_character() -> None:
    good = ("Grüße, " * 200).encode() + "漢".encode()[:2]
    assert parse_email(html_part(good)).html == "Grüße, " * 200 + "\ufffd"


@pytest.mark.parametrize("charset", ["utf-8", None, "us-ascii"])
def test_latin1_text_in_a_utf8_or_unlabelled_part_reads_as_windows_latin(charset: str | None) -> None:
    body = "Café crème, “déjà vu” — naïve façade".encode("cp1252")
    assert parse_email(html_part(body, charset=charset)).html == "Café crème, “déjà vu” — naïve façade"


@pytest.mark.parametrize("charset", [None, "us-ascii", "unknown-8bit", "fakescii"])
def test_utf8_text_without_a_usable_label_reads_as_utf8(charset: str | None) -> None:
    text = GREEK * 3 + "\u00e9"
    assert parse_email(html_part(text.encode() + b"\xff", charset=charset)).html == text + "\ufffd"


def test_a_declared_multibyte_charset_keeps_its_reading_with_one_bad_byte() -> None:
    body = "안녕하세요. 주문 감사합니다.".encode("euc-kr")
    damaged = body[:6] + b"\xff" + body[6:]
    assert parse_email(html_part(damaged, charset="euc-kr")).html == "안녕하\ufffd세요. 주문 감사합니다."


def test_a_declared_charset_that_clearly_fails_gives_way_to_valid_utf8() -> None:
    text = "Ελληνικά και русский текст"
    assert parse_email(html_part(text.encode(), charset="euc-kr")).html == text


def test_a_single_byte_charset_is_kept_even_when_the_bytes_would_be_utf8() -> None:
    # ISO-8859-1 cannot fail, so it is never overridden: what the sender declared is what is shown
    assert parse_email(html_part("é".encode(), charset="iso-8859-1")).html == "Ã©"


# ------------------------------------------------------------------------ raw 8-bit header bytes


def named_part(disposition: bytes, content_type: bytes = b"Content-Type: application/msword") -> bytes:
    return (
        message('Content-Type: multipart/mixed; boundary="b"', "")
        + b"--b\r\n"
        + content_type
        + b"\r\nContent-Transfer-Encoding: base64\r\n"
        + disposition
        + b"\r\n\r\n"
        + base64.b64encode(b"DOC")
        + b"\r\n--b--\r\n"
    )


@pytest.mark.parametrize(
    ("raw_name", "expected"),
    [
        ("管理書類.doc".encode(), "管理書類.doc"),
        ("管理書類".encode()[:-1], "管理書\ufffd"),  # cut inside the last character
        ("管理書類".encode()[:-2] + b".doc", "管理書\ufffd.doc"),  # cut, then the extension
        ("管.doc".encode()[:2] + b".doc", "\ufffd.doc"),  # nothing but the cut character
        ("Übersicht Mär".encode() + b"\xe4", "Übersicht Mär\ufffd"),  # two valid characters, one bad byte
        ("Frösche.txt".encode("latin-1"), "Frösche.txt"),  # legacy Latin-1: no valid UTF-8 character
        ("Prüfbericht Ü".encode("latin-1"), "Prüfbericht Ü"),
    ],
)
@pytest.mark.parametrize("where", ["filename", "name", "unquoted filename"])
def test_raw_8bit_filename_reads_as_utf8_with_replacement_before_latin1(
    raw_name: bytes, expected: str, where: str
) -> None:
    if where == "name":  # in Content-Type, with a bare disposition
        raw = named_part(
            b"Content-Disposition: attachment", b'Content-Type: application/msword; name="' + raw_name + b'"'
        )
    elif where == "filename":
        raw = named_part(b'Content-Disposition: attachment; filename="' + raw_name + b'"')
    else:
        raw = named_part(b"Content-Disposition: attachment; filename=" + raw_name)
    (attachment,) = parse_email(raw).attachments
    assert attachment.filename == expected


def test_raw_8bit_rfc2231_value_and_subject_follow_the_same_rule() -> None:
    cut = "Angebot für Möhren Ö".encode()[:-1]
    (attachment,) = parse_email(named_part(b"Content-Disposition: attachment; filename*=utf-8''" + cut)).attachments
    assert attachment.filename == "Angebot für Möhren \ufffd"
    raw = b"From: a@example.com\r\nSubject: " + "Größe ändern Ö".encode()[:-1] + b"\r\n\r\nbody"
    assert parse_email(raw).subject == "Größe ändern \ufffd"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"plain", "plain"),
        ("Grüße".encode(), "Grüße"),
        ("Grüße".encode()[:-2], "Grü\ufffd"),
        (b"Gr\xfc\xdfe", "Grüße"),
        (b"\xc3\xa9\xe9\xe9", "Ã©éé"),  # one valid pair, two invalid bytes: Latin-1
        (b"\xc3\xa9\xe9", "é\ufffd"),  # as many valid characters as invalid sequences: UTF-8
        (b"\xe7\xae", "\ufffd"),  # a 3-byte character cut after its second byte: one U+FFFD
        ("déjà vu".encode("cp1252"), "déjà vu"),  # stray single bytes only: Latin-1
    ],
)
def test_header_bytes_decode(raw: bytes, expected: str) -> None:
    assert decode_header_bytes(raw) == expected


# ------------------------------------------------------------------------ charset labels

# (label, text): each label as mailers write it, with text in the charset it stands for
ALIASES = [
    ("iso-8859-8-i", "שלום עולם"),
    ("ISO-8859-8-I", "שלום עולם"),
    ("iso-8859-8-e", "שלום עולם"),
    ("iso-8859-6-i", "مرحبا بالعالم"),
    ("iso-8859-6-e", "مرحبا بالعالم"),
    ("ks_c_5601-1987", "안녕하세요 똠방각하"),  # 똠 is in cp949 only (not EUC-KR)
    ("KS_C_5601-1987", "안녕하세요"),
    ("euc-kr", "안녕하세요 똠"),
    ("gb2312", "你好，世界 镕"),  # 镕 is GBK, not GB2312
    ("GB2312", "你好"),
    ("x-gbk", "你好 镕"),
    ("gbk", "你好 镕"),
    ("windows-874", "สวัสดีครับ €"),
    ("tis-620", "สวัสดีครับ"),
    ("x-mac-roman", "Café “quoted” ﬁ"),
    ("macintosh", "Café"),
    ("x-mac-cyrillic", "Привет, мир"),
    ("x-mac-ce", "Dobrý den, Łódź"),
    ("x-mac-centraleurope", "Dobrý den"),
    ("x-mac-greek", "Καλημέρα"),
    ("x-mac-turkish", "Günaydın"),
    ("x-mac-icelandic", "Góðan daginn Þór"),
    ("x-mac-ukrainian", "Привіт"),
    ("utf8", "Grüße 👋"),
    ("UTF8", "Grüße"),
    ("unicode-1-1-utf-8", "Grüße"),
    ("unicode-1-1-utf-7", "Grüße, 日本"),
    ("utf-7", "Grüße"),
    ("iso-2022-jp", "会議は①番、№5 ㈱山田 髙﨑"),  # NEC row 13 and IBM extensions (CP50221)
    ("ISO-2022-JP", "こんにちは"),
    ("csISO2022JP", "ｱｲｳ 半角カナ"),  # JIS X 0201 Katakana (ESC ( I)
    ("ISO-2022-JP-2", "会議は①番"),
    ("SJIS-win", "①№"),
    ("big5-hkscs", "你好"),
    ("8859-15", "€uro"),
    ("shift_jis", "①№㈱ 髙﨑"),
    ("x-sjis", "こんにちは①"),
    ("windows-31j", "①"),
    ("cp932", "①"),
    ("euc-jp", "こんにちは"),
    ("x-euc-jp", "こんにちは"),
    ("big5", "你好世界"),
    ("x-x-big5", "你好"),
    ("latin-9", "€uro œuvre"),
    ("iso-8859-15", "€uro"),
    ("iso-8859-1", "“quoted” – dash €"),  # read as Windows-1252, as mail clients do
    ("latin1", "café"),
    ("x-cp1251", "Привет"),
    ("cp-1250", "Łódź"),
    ("win-1252", "café"),
    ("ibm850", "café"),
    ("ISO_8859-2:1987", "Łódź"),
    ("iso8859-5", "Привет"),
    ("koi8-ru", "Привіт"),
    ("windows-1258", "Xin chào"),
]


def encoded_with(label: str, text: str) -> bytes:
    """`text` in the charset `label` stands for, the way a sending mailer writes it."""
    squashed = charsets.squash(label)
    if squashed.startswith(("iso2022jp", "csiso2022jp")):
        return iso2022jp_ms(text)
    if squashed == "unicode11utf7":
        return text.encode("utf-7")
    chain = charsets.resolve(label)
    return text.encode(chain[0])


def iso2022jp_ms(text: str) -> bytes:
    """ISO-2022-JP as Japanese mailers write it: JIS rows from cp932 (NEC row 13, IBM rows 89-92)."""
    out, mode = b"", b"\x1b(B"
    for char in text:
        sjis = char.encode("cp932")
        if len(sjis) == 1 and sjis[0] < 0x80:
            want, code = b"\x1b(B", sjis
        elif len(sjis) == 1:
            want, code = b"\x1b(I", bytes([sjis[0] - 0x80])
        else:
            s1, s2 = sjis[0] - (0x40 if sjis[0] >= 0xE0 else 0), sjis[1]
            j1 = (s1 - 0x70) * 2 - (1 if s2 < 0x9F else 0)
            j2 = s2 - (0x1F if s2 < 0x7F else 0x20 if s2 < 0x9F else 0x7E)
            want, code = b"\x1b$B", bytes([j1, j2])
        out += (want if want != mode else b"") + code
        mode = want
    return out + (b"\x1b(B" if mode != b"\x1b(B" else b"")


@pytest.mark.parametrize(("label", "text"), ALIASES, ids=[label for label, _ in ALIASES])
def test_charset_label_decodes_body_and_subject(label: str, text: str) -> None:
    data = encoded_with(label, text)
    subject = f"=?{label}?B?{base64.b64encode(data).decode()}?="
    raw = message(
        f'Subject: {subject}{CRLF}Content-Type: text/plain; charset="{label}"{CRLF}Content-Transfer-Encoding: base64',
        b64_lines(data),
    )
    result = parse_email(raw)
    assert result.subject == text
    assert result.text == text


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x1b$B-!-b\x1b(B", "①№"),  # NEC row 13
        (b"\x1b$B|b\x1b(B", "髙"),  # an IBM extension (rows 0x79-0x7C)
        (b"\x1b$B-!-", "①\ufffd"),  # cut inside the second character: one replacement
        (b"\x1b(I12\r\n3\x1b(B ok", "ｱｲ\r\nｳ ok"),  # by ESC ( I, across a line break
        ("会議".encode("iso2022_jp_2") + "中文".encode("iso2022_jp_2"), "会議中文"),  # GB 2312 (ESC $ A)
        ("丂".encode("iso2022_jp_2"), "丂"),  # JIS X 0212 (ESC $ ( D)
        (b"\x1b$B-!\xff\x1b(B", "①\ufffd"),
    ],
)
def test_iso2022jp_as_japanese_mailers_write_it(data: bytes, expected: str) -> None:
    assert charsets.decode(data, "ISO-2022-JP") == expected


@pytest.mark.parametrize(
    "data",
    [b"\x1b$B" + b"!\x00" * 5000, b"\x1b(I" + b"\xff!" * 5000, b"\x1b$B!!\x1b(B\xff" * 5000],
    ids=["junk between JIS bytes", "junk between Katakana", "a flood of shifts"],
)
def test_iso2022jp_broken_at_every_turn_is_read_by_the_c_decoder_with_replacement(data: bytes) -> None:
    text = charsets.decode(data, "iso-2022-jp")
    assert "\ufffd" in text
    assert len(text) <= len(data)


def test_every_alias_in_the_table_names_a_codec_python_has() -> None:
    import codecs

    for label, chain in charsets.ALIASES.items():
        assert label == charsets.squash(label)
        for codec in chain:
            if codec not in (charsets.DETECT, charsets.ISO2022JP_MS):
                assert codecs.lookup(codec).name, (label, codec)


@pytest.mark.parametrize("label", ["punycode", "idna", "undefined", "base64", "rot13", "zlib"])
def test_codecs_that_are_no_charsets_are_not_applied(label: str) -> None:
    raw = message(f"Subject: s{CRLF}Content-Type: text/plain; charset={label}", "caf\\u00e9 \\x41 é")
    assert parse_email(raw).text == "caf\\u00e9 \\x41 é"


def test_a_character_split_across_two_encoded_words_comes_out_whole() -> None:
    data = "Überweisung für Jürgen".encode()
    cut = data.index("ü".encode()) + 1  # inside the two bytes of ü
    first, second = base64.b64encode(data[:cut]).decode(), base64.b64encode(data[cut:]).decode()
    raw = message(f"Subject: =?UTF-8?B?{first}?={CRLF} =?UTF-8?B?{second}?=", "x")
    assert parse_email(raw).subject == "Überweisung für Jürgen"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between encoded words is dropped
        ("=?utf-8?q?a?=  x =?utf-8?q?b?=", "a  x b"),
        ("Re: =?iso-8859-8-i?b?+ezl7Q==?= ok", "Re: שלום ok"),
        ("=?utf-8*en?q?hello_world?=", "hello world"),  # RFC 2231 language tag
        ("=?utf-8?q?caf=C3=A9?= =?iso-8859-1?q?caf=E9?=", "cafécafé"),
        ("=?utf-8?b?w6k?=", "é"),  # padding left out
        ("=?bogus?q?x?= tail", "x tail"),
        ("no words here", "no words here"),
        ("=?utf-8?q?broken", "=?utf-8?q?broken"),
    ],
)
def test_encoded_words(value: str, expected: str) -> None:
    assert decode_words(value) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.binary(max_size=200), st.sampled_from([b"+2AA-", b"\\ud800", b"\x1b$B-", b"\xed\xa0\x80"])),
    st.sampled_from([*charsets.ALIASES, "utf-16", "utf-7", "unicode_escape", "bogus", "", "x" * 300]),
)
def test_decoding_any_bytes_in_any_label_gives_text_without_surrogates(data: bytes, label: str) -> None:
    text = decode_text(data, label)
    assert isinstance(text, str)
    text.encode("utf-8")  # no lone surrogate: UTF-8 refuses them


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("=?bBqQ_ aé漢\x1b$B()-utf8iso2022jp")), max_size=120))
def test_encoded_word_decoding_never_raises(value: str) -> None:
    decode_words(value).encode("utf-8")


# ------------------------------------------------------------------------ singleton fields


@pytest.mark.parametrize(
    ("field", "first", "second", "read"),
    [
        ("From", "Alice <alice@example.com>", "ceo@victim.example", lambda r: r.from_),
        ("Subject", "Invoice 42", "URGENT: wire money", lambda r: r.subject),
        (
            "Date",
            "Tue, 11 Jun 2024 12:18:41 +0200",
            "Wed, 12 Jun 2024 09:00:00 +0000",
            lambda r: r.date and r.date.isoformat(),
        ),
        ("Message-ID", "<first@example.com>", "<second@example.com>", lambda r: r.message_id),
        ("Reply-To", "alice@example.com", "attacker@evil.example", lambda r: r.reply_to),
    ],
)
def test_a_repeated_singleton_field_is_read_from_its_first_occurrence(
    field: str, first: str, second: str, read: Callable[[ParsedEmail], object]
) -> None:
    once = parse_email(f"To: b@example.com{CRLF}{field}: {first}{CRLF}{CRLF}body".encode())
    twice = parse_email(f"To: b@example.com{CRLF}{field}: {first}{CRLF}{field}: {second}{CRLF}{CRLF}body".encode())
    assert read(twice) == read(once)
    assert f"duplicate-{field.lower()}" in twice.defects
    assert not [d for d in once.defects if d.startswith("duplicate-")]


def test_two_from_fields_give_one_sender_in_the_contract() -> None:
    raw = f"From: alice@example.com{CRLF}From: ceo@victim.example{CRLF}Sender: a@x.example{CRLF}Sender: b@x.example"
    contract = parse_email(f"{raw}{CRLF}To: b@example.com{CRLF}{CRLF}body".encode()).to_contract()
    assert contract["from"] == ["alice@example.com"]
    assert {"duplicate-from", "duplicate-sender"} <= set(contract["defects"])


def test_one_from_field_with_two_mailboxes_is_no_duplicate() -> None:
    result = parse_email(f"From: a@example.com, b@example.com{CRLF}To: c@example.com{CRLF}{CRLF}x".encode())
    assert [addr for _, addr in result.from_] == ["a@example.com", "b@example.com"]
    assert not result.defects


def test_a_repeated_to_field_is_reported_and_loses_no_recipient() -> None:
    result = parse_email(f"From: a@example.com{CRLF}To: b@example.com{CRLF}To: c@example.com{CRLF}{CRLF}x".encode())
    assert [addr for _, addr in result.to] == ["b@example.com", "c@example.com"]
    assert "duplicate-to" in result.defects


# ------------------------------------------------------------------------ address fast path


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"(?:[A-Za-z0-9.'+-]{1,12}(?: [A-Za-z0-9.'-]{1,8}){0,2}[ ]?)?", fullmatch=True),
    st.from_regex(
        r"[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,10}(?:\.[a-z0-9_-]{1,5})?@[a-z0-9-]{1,10}(?:\.[a-z]{2,4})?", fullmatch=True
    ),
    st.sampled_from(["{name}<{addr}>", "{name} <{addr}>", "  {addr} ", "<{addr}>", '"{name}" <{addr}>']),
)
def test_simple_addresses_read_as_the_stdlib_reads_them(name: str, addr: str, form: str) -> None:
    from email import policy

    from mailroom.mime.headers import addresses

    value = form.format(name=name, addr=addr)
    try:
        header = policy.default.header_factory("to", value)
        expected = [(a.display_name, a.addr_spec) for a in header.addresses if a.addr_spec]
    except Exception:  # the stdlib's own bugs (e.g. a display name of only '.') are no reference
        return
    assert addresses([value]) == expected


@pytest.mark.parametrize("mime_charset", [None, "us-ascii", "x-unknown", '"charset=us-ascii"'])
def test_html_without_a_usable_mime_charset_reads_its_meta_charset(mime_charset: str | None) -> None:
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251"></head>'
    html += "<body>Счёт № 42</body></html>"
    assert parse_email(html_part(html.encode("cp1251"), charset=mime_charset)).html == html


def test_a_mime_charset_wins_over_the_html_meta_charset() -> None:
    html = '<meta charset="windows-1251"><p>Grüße</p>'
    assert parse_email(html_part(html.encode("utf-8"), charset="utf-8")).html == html
