"""The MIME parser on the email that scanners, mail clients and broken mailers really send."""

from __future__ import annotations

import base64
import gzip
import hashlib

import pytest
from mail_factory import CRLF, b64_lines, headers, pdf_bytes, scanner_mail, tnef
from mailroom import errors
from mailroom.mime import Limits, parse_email
from mailroom.mime.content import DirectoryStore, MemoryContent, MemoryStore


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mail(content_type: str, body: str, **extra: str) -> bytes:
    """A single-part (or hand-written multipart) message."""
    head = headers(From="a@example.com", To="b@example.com", Subject="t", Content_Type=content_type, **extra)
    return (head + CRLF + body).encode("utf-8")


def test_scanner_mail_yields_each_pdf_byte_identical_with_metadata() -> None:
    pdfs = [(f"scan-{i}.pdf", pdf_bytes(50_000 + i, seed=i)) for i in range(3)]
    result = parse_email(scanner_mail(pdfs), store=MemoryStore())

    assert result.subject == "Scan from MFP-4020"
    assert result.message_id == "scan-0001@corp.example"
    assert result.from_ == [("Scanner", "scanner@corp.example")]
    assert result.date is not None
    assert result.date.isoformat() == "2026-11-27T09:15:02+01:00"
    assert result.text is not None
    assert "scanned document" in result.text
    assert [a.filename for a in result.attachments] == ["scan-0.pdf", "scan-1.pdf", "scan-2.pdf"]
    for attachment, (_, data) in zip(result.attachments, pdfs, strict=True):
        assert attachment.content_type == "application/pdf"
        assert attachment.size == len(data)
        assert attachment.sha256 == sha(data)
        assert not attachment.inline
        assert not attachment.nested_message
        assert isinstance(attachment.content, MemoryContent)
        with attachment.content.open() as stream:
            assert stream.read() == data


def test_directory_store_writes_each_attachment_to_its_own_file(tmp_path) -> None:
    data = pdf_bytes(3000)
    result = parse_email(scanner_mail([("x.pdf", data)]), store=DirectoryStore(tmp_path))
    content = result.attachments[0].content
    assert content is not None
    with content.open() as stream:
        assert stream.read() == data


def test_nested_message_is_one_attachment_also_when_base64_encoded() -> None:
    inner = (headers(From="x@example.com", Subject="Original invoice") + CRLF + "inner body" + CRLF).encode()
    for cte, body in (("7bit", inner.decode()), ("base64", b64_lines(inner))):
        raw = mail(
            'multipart/mixed; boundary="b"',
            f"--b{CRLF}Content-Type: text/plain{CRLF}{CRLF}see attached{CRLF}"
            f"--b{CRLF}Content-Type: message/rfc822{CRLF}Content-Transfer-Encoding: {cte}{CRLF}{CRLF}"
            f"{body}{CRLF}--b--{CRLF}",
        )
        (attachment,) = parse_email(raw).attachments
        assert attachment.nested_message
        assert attachment.content_type == "message/rfc822"
        assert attachment.sha256 == sha(inner)
        assert attachment.filename is None
        assert attachment.safe_filename == "Original invoice.eml"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ("attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf", "Rechnung März.pdf"),
        ("attachment; filename*0*=utf-8''Rech; filename*1=nung.pdf", "Rechnung.pdf"),
        ('attachment; filename="=?UTF-8?B?0YHRh9C10YIucGRm?="', "счет.pdf"),
        ('attachment; filename="=?iso-8859-1?Q?F=FCr_Sie.pdf?="', "Für Sie.pdf"),
        ("attachment; file=legacy.pdf", "legacy.pdf"),
        ('attachment; filename="C:\\\\scans\\\\doc.pdf"', "C:\\scans\\doc.pdf"),
    ],
)
def test_filenames_are_decoded_as_the_sender_wrote_them(disposition: str, expected: str) -> None:
    raw = mail(
        'multipart/mixed; boundary="b"',
        f"--b{CRLF}Content-Type: application/pdf{CRLF}Content-Transfer-Encoding: base64{CRLF}"
        f"Content-Disposition: {disposition}{CRLF}{CRLF}{b64_lines(b'%PDF')}{CRLF}--b--{CRLF}",
    )
    (attachment,) = parse_email(raw).attachments
    assert attachment.filename == expected


def test_unknown_charset_decodes_without_error() -> None:
    raw = mail("text/plain; charset=fakescii", "caf\u00e9 au lait")
    assert parse_email(raw).text == "café au lait"


def test_transfer_encoding_with_stray_whitespace_and_case_still_decodes() -> None:
    payload = pdf_bytes(500)
    raw = mail(
        'multipart/mixed; boundary="b"',
        f"--b{CRLF}Content-Type: application/pdf; name=a.pdf{CRLF}Content-Transfer-Encoding:  BASE64 {CRLF}{CRLF}"
        f"{b64_lines(payload)}{CRLF}--b--{CRLF}",
    )
    assert parse_email(raw).attachments[0].sha256 == sha(payload)


def test_junk_after_boundary_and_missing_close_delimiter_keep_every_part() -> None:
    payload = pdf_bytes(700)
    raw = mail(
        'multipart/mixed; boundary="b"',
        f"--b   junk{CRLF}Content-Type: text/plain{CRLF}{CRLF}hello{CRLF}"
        f"--b{CRLF}Content-Type: application/pdf; name=a.pdf{CRLF}Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(payload)}{CRLF}",
    )
    result = parse_email(raw)
    assert result.text == "hello"
    assert [a.sha256 for a in result.attachments] == [sha(payload)]


def test_multipart_without_boundary_parameter_is_split_on_the_boundary_it_uses() -> None:
    raw = mail(
        "multipart/mixed",
        f"--zz{CRLF}Content-Type: text/plain{CRLF}{CRLF}body{CRLF}"
        f"--zz{CRLF}Content-Type: application/pdf; name=a.pdf{CRLF}{CRLF}%PDF{CRLF}--zz--{CRLF}",
    )
    result = parse_email(raw)
    assert result.text == "body"
    assert [a.filename for a in result.attachments] == ["a.pdf"]
    assert "BoundaryGuessedDefect" in result.defects


def test_inline_image_with_content_id_is_an_inline_attachment() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    raw = mail(
        'multipart/related; boundary="r"',
        f"--r{CRLF}Content-Type: text/html{CRLF}{CRLF}<img src=cid:logo@x>{CRLF}"
        f"--r{CRLF}Content-Type: image/png{CRLF}Content-ID: <logo@x>{CRLF}Content-Disposition: inline{CRLF}"
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{b64_lines(png)}{CRLF}--r--{CRLF}",
    )
    result = parse_email(raw)
    assert result.html == "<img src=cid:logo@x>"
    (image,) = result.attachments
    assert (image.inline, image.content_id, image.sha256) == (True, "logo@x", sha(png))
    assert image.safe_filename == "attachment-1.png"


def test_alternative_bodies_fill_text_and_html() -> None:
    raw = mail(
        'multipart/alternative; boundary="a"',
        f"--a{CRLF}Content-Type: text/plain{CRLF}{CRLF}plain{CRLF}"
        f"--a{CRLF}Content-Type: text/html; charset=utf-8{CRLF}Content-Transfer-Encoding: quoted-printable{CRLF}"
        f"{CRLF}<p>caf=C3=A9</p>{CRLF}--a--{CRLF}",
    )
    result = parse_email(raw)
    assert (result.text, result.html, result.attachments) == ("plain", "<p>café</p>", [])


def test_uuencoded_file_in_a_text_body_becomes_an_attachment() -> None:
    import binascii

    data = b"scanned bytes " * 10
    lines = [binascii.b2a_uu(data[i : i + 45]).decode().rstrip("\n") for i in range(0, len(data), 45)]
    body = CRLF.join(["see file", "begin 644 scan.bin", *lines, "`", "end", "bye"])
    result = parse_email(mail("text/plain", body))
    (attachment,) = result.attachments
    assert (attachment.filename, attachment.sha256) == ("scan.bin", sha(data))


def test_tnef_winmail_dat_is_unpacked_into_its_files() -> None:
    files = [("report.pdf", pdf_bytes(900)), ("notes.txt", b"ends with NULs\x00\x00")]
    raw = mail(
        'multipart/mixed; boundary="b"',
        f"--b{CRLF}Content-Type: application/ms-tnef; name=winmail.dat{CRLF}Content-Transfer-Encoding: base64{CRLF}"
        f"{CRLF}{b64_lines(tnef(files))}{CRLF}--b--{CRLF}",
    )
    result = parse_email(raw)
    assert [(a.filename, a.sha256) for a in result.attachments] == [(n, sha(d)) for n, d in files]


def test_damaged_tnef_is_kept_as_the_original_attachment() -> None:
    raw = mail(
        'multipart/mixed; boundary="b"',
        f"--b{CRLF}Content-Type: application/ms-tnef; name=winmail.dat{CRLF}{CRLF}not tnef{CRLF}--b--{CRLF}",
    )
    (attachment,) = parse_email(raw).attachments
    assert attachment.filename == "winmail.dat"


def test_x_gzip64_is_decompressed() -> None:
    data = b"signature\n" * 20
    raw = mail("text/plain; name=sig.txt", b64_lines(gzip.compress(data)), Content_Transfer_Encoding="x-gzip64")
    (attachment,) = parse_email(raw).attachments
    assert attachment.sha256 == sha(data)


def test_ses_verdicts_and_candidate_recipients_are_reported() -> None:
    head = headers(
        Received="from mail.example.com by inbound-smtp.eu-west-1.amazonaws.com with SMTP id abc "
        "for hidden@in.mailroom.localhost; Fri, 27 Nov 2026 09:15:02 +0000",
        X_SES_Spam_Verdict="PASS",
        X_SES_Virus_Verdict="FAIL",
        Authentication_Results="amazonses.com; spf=pass smtp.mailfrom=x; dkim=fail header.i=@x; dmarc=none",
        From="a@example.com",
        To="One <One@In.Mailroom.Localhost>, two@in.mailroom.localhost",
        Cc="three@in.mailroom.localhost",
        Delivered_To="four@in.mailroom.localhost",
        X_Original_To="two@in.mailroom.localhost",
    )
    result = parse_email((head + CRLF + "hi").encode())
    verdicts = result.verdicts
    assert (verdicts.spam, verdicts.virus, verdicts.spf, verdicts.dkim, verdicts.dmarc) == (
        "PASS",
        "FAIL",
        "pass",
        "fail",
        "none",
    )
    assert result.recipients == [
        "one@in.mailroom.localhost",
        "two@in.mailroom.localhost",
        "three@in.mailroom.localhost",
        "four@in.mailroom.localhost",
        "hidden@in.mailroom.localhost",
    ]


def test_rfc2047_subject_and_8bit_header_decode() -> None:
    raw = headers(From="a@example.com", Subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Berlin").encode()
    raw += b"X-Note: x\r\nSubject2: y\r\n\r\nbody"
    assert parse_email(raw).subject == "Grüße aus Berlin"
    latin1 = b"From: a@example.com\r\nSubject: Fr\xf6sche\r\n\r\nbody"
    assert parse_email(latin1).subject == "Frösche"


def test_contract_json_has_the_scorer_keys_and_safe_filename() -> None:
    contract = parse_email(scanner_mail([("../../etc/passwd", b"x")])).to_contract()
    assert set(contract) >= {"message_id", "subject", "date", "from", "to", "cc", "text", "html", "defects"}
    (attachment,) = contract["attachments"]
    assert attachment["filename"] == "../../etc/passwd"
    assert attachment["safe_filename"] == "passwd"
    assert set(attachment) == {
        "filename",
        "safe_filename",
        "content_type",
        "size",
        "sha256",
        "inline",
        "content_id",
        "nested_message",
    }


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n", b"// Not an RFC-822 Document\n"])
def test_input_that_is_no_email_is_refused_as_malformed(raw: bytes) -> None:
    with pytest.raises(errors.MalformedMessageError):
        parse_email(raw)


def test_oversize_message_is_refused() -> None:
    with pytest.raises(errors.MessageTooLargeError):
        parse_email(scanner_mail([("a.pdf", pdf_bytes(4000))]), limits=Limits(max_message_bytes=4000))


def test_too_many_attachments_is_refused() -> None:
    raw = scanner_mail([(f"{i}.pdf", b"x") for i in range(12)])
    with pytest.raises(errors.TooManyAttachmentsError):
        parse_email(raw, limits=Limits(max_attachments=10))


def test_too_many_parts_is_refused_even_without_attachments() -> None:
    body = "".join(f"--b{CRLF}Content-Type: text/plain{CRLF}{CRLF}x{CRLF}" for _ in range(60)) + f"--b--{CRLF}"
    with pytest.raises(errors.TooManyAttachmentsError):
        parse_email(mail('multipart/mixed; boundary="b"', body), limits=Limits(max_parts=50))


def test_deep_nesting_is_refused() -> None:
    depth = 40
    opening = "".join(
        f'--b{i}z{CRLF}Content-Type: multipart/mixed; boundary="b{i + 1}z"{CRLF}{CRLF}' for i in range(depth)
    )
    raw = mail('multipart/mixed; boundary="b0z"', opening + f"--b{depth}z{CRLF}{CRLF}x{CRLF}")
    with pytest.raises(errors.NestingTooDeepError):
        parse_email(raw, limits=Limits(max_depth=32))


def test_header_flood_is_refused() -> None:
    raw = ("".join(f"X-Flood-{i}: v{CRLF}" for i in range(5000)) + CRLF + "body").encode()
    with pytest.raises(errors.HeaderLimitError):
        parse_email(raw)


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(bytes(50 * 1024 * 1024))
    raw = mail(
        "application/octet-stream; name=b",
        base64.b64encode(bomb).decode(),
        Content_Transfer_Encoding="x-gzip64",
    )
    with pytest.raises(errors.DecompressionLimitError):
        parse_email(raw, limits=Limits(max_decoded_bytes=10 * 1024 * 1024))


def test_tnef_beyond_the_decoded_limit_is_refused() -> None:
    container = tnef([(f"{i}.bin", bytes(4000)) for i in range(5)])
    raw = mail(
        'multipart/mixed; boundary="b"',
        f"--b{CRLF}Content-Type: application/ms-tnef{CRLF}Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(container)}{CRLF}--b--{CRLF}",
    )
    with pytest.raises((errors.DecompressionLimitError, errors.MessageTooLargeError)):
        parse_email(raw, limits=Limits(max_decoded_bytes=15_000))
