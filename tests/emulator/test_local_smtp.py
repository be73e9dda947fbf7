"""The local SES stand-in: real SMTP over 127.0.0.1 in, SES-format objects in moto S3 out."""

from __future__ import annotations

import json
import logging
import re
import smtplib
import socket
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from mail_factory import pdf_bytes, scanner_mail
from mailroom.adapters.kms import KmsKeyService
from mailroom.crypto import decrypt_ses_object
from mailroom.sesformat import is_ses_message_id
from moto import mock_aws

from mailroom_cli.local.ses_producer import MemorySink
from mailroom_cli.local.smtp import (
    MULTIPART_THRESHOLD,
    SesSmtpListener,
    SesSmtpSettings,
    recipient_matches,
    ses_trace_headers,
)

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
DOMAIN = "in.mailroom.localhost"
RULE = "inbound-rule"
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
SENDER = "scanner@corp.example"
SES_HEADERS = [
    "Return-Path",
    "Received",
    "X-SES-Spam-Verdict",
    "X-SES-Virus-Verdict",
    "Received-SPF",
    "Authentication-Results",
]
SES_DATE = r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000 \(UTC\)"


@dataclass(frozen=True)
class Aws:
    s3: Any
    kms: Any
    key_arn: str


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    # mock_aws patches botocore process-wide, so the listener's worker threads see it too.
    with mock_aws():
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        kms = session.client("kms")
        key_arn = kms.create_key(Description="mailroom SES key")["KeyMetadata"]["Arn"]
        yield Aws(s3=session.client("s3"), kms=kms, key_arn=key_arn)


def new_bucket_name() -> str:
    return f"incoming-{uuid.uuid4().hex[:16]}"


def create_bucket(aws: Aws, name: str) -> str:
    aws.s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
def bucket(aws: Aws) -> str:
    return create_bucket(aws, new_bucket_name())


def settings_for(aws: Aws, bucket: str, **overrides: Any) -> SesSmtpSettings:
    values: dict[str, Any] = {
        "domain": DOMAIN,
        "bucket": bucket,
        "kms_key_id": aws.key_arn,
        "account_id": ACCOUNT,
        "region": REGION,
        "rule_name": RULE,
        "port": 0,
    }
    return SesSmtpSettings(**(values | overrides))


@pytest.fixture
def listener(aws: Aws, bucket: str) -> Iterator[SesSmtpListener]:
    with SesSmtpListener(settings_for(aws, bucket), s3=aws.s3, kms=aws.kms) as running:
        yield running


@contextmanager
def connect(listener: SesSmtpListener, *, starttls: bool = True) -> Iterator[smtplib.SMTP]:
    """A session with the listener, over TLS (STARTTLS, the certificate checked) unless ``starttls=False``."""
    with smtplib.SMTP(*listener.address, local_hostname="mfp-4020.corp.example", timeout=30) as client:
        client.ehlo()
        if starttls:
            assert listener.certificate_path is not None
            context = ssl.create_default_context(cafile=listener.certificate_path)
            assert client.starttls(context=context)[0] == 220
            client.ehlo()
        yield client


def send(listener: SesSmtpListener, message: bytes, *, to: list[str]) -> tuple[int, bytes]:
    with connect(listener) as client:
        return transaction(client, message, to=to)


def transaction(client: smtplib.SMTP, message: bytes, *, to: list[str]) -> tuple[int, bytes]:
    assert client.mail(SENDER)[0] == 250
    for recipient in to:
        assert client.rcpt(recipient)[0] == 250
    return client.data(message)


def accepted_id(reply: tuple[int, bytes]) -> str:
    code, text = reply
    assert code == 250, reply
    ok, message_id = text.decode().split(" ")
    assert ok == "Ok"
    return message_id


def stored_keys(aws: Aws, bucket: str) -> list[str]:
    listing = aws.s3.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def decrypt(aws: Aws, bucket: str, key: str) -> bytes:
    """What the Decrypt step would publish: checks the tag, the account and the id against the key."""
    obj = aws.s3.get_object(Bucket=bucket, Key=key)
    sink = MemorySink()
    decrypt_ses_object(
        obj["Body"],
        metadata=obj["Metadata"],
        size=obj["ContentLength"],
        keys=KmsKeyService(aws.kms, key_id=aws.key_arn),
        sink=sink,
        expected_account=ACCOUNT,
        expected_message_id=key.rsplit("/", 1)[-1],
    )
    assert sink.value is not None
    return sink.value


def split_prepended(plaintext: bytes, message: bytes) -> list[tuple[str, str]]:
    """The header fields SES put in front of ``message``, unfolded only at the field level."""
    assert plaintext.endswith(message)
    block = plaintext[: len(plaintext) - len(message)].decode("utf-8")
    assert block.endswith("\r\n")
    fields = re.split(r"\r\n(?![ \t])", block.removesuffix("\r\n"))
    return [(name, value) for name, _, value in (field.partition(": ") for field in fields)]


MAIL = scanner_mail([("scan.pdf", pdf_bytes(20_000))], to=ALICE)


# --------------------------------------------------------------------------- accepted mail


def test_accepted_mail_is_stored_once_encrypted_under_its_ses_message_id(
    aws: Aws, bucket: str, listener: SesSmtpListener
) -> None:
    message_id = accepted_id(send(listener, MAIL, to=[ALICE]))

    assert is_ses_message_id(message_id)
    assert stored_keys(aws, bucket) == [f"inbound/{message_id}"]
    metadata = aws.s3.head_object(Bucket=bucket, Key=f"inbound/{message_id}")["Metadata"]
    assert json.loads(metadata["x-amz-matdesc"]) == {
        "aws:ses:message-id": message_id,
        "aws:ses:rule-name": RULE,
        "aws:ses:source-account": ACCOUNT,
        "kms_cmk_id": aws.key_arn,
    }
    assert decrypt(aws, bucket, f"inbound/{message_id}").endswith(MAIL)


def test_ses_headers_are_prepended_in_ses_order_and_folding(aws: Aws, bucket: str, listener: SesSmtpListener) -> None:
    message_id = accepted_id(send(listener, MAIL, to=[ALICE]))

    fields = split_prepended(decrypt(aws, bucket, f"inbound/{message_id}"), MAIL)

    assert [name for name, _ in fields] == SES_HEADERS
    values = dict(fields)
    assert values["Return-Path"] == f"<{SENDER}>"
    assert re.fullmatch(
        rf"from mfp-4020\.corp\.example \(\[127\.0\.0\.1\]\)\r\n"
        rf" by inbound-smtp\.eu-west-1\.amazonaws\.com with SMTP id {message_id}\r\n"
        rf" for {re.escape(ALICE)};\r\n {SES_DATE}",
        values["Received"],
    )
    assert values["X-SES-Spam-Verdict"] == "PASS"
    assert values["X-SES-Virus-Verdict"] == "PASS"
    spf = (
        "none (spfCheck: 127.0.0.1 is neither permitted nor denied by domain of corp.example)"
        f" client-ip=127.0.0.1; envelope-from={SENDER}; helo=mfp-4020.corp.example;"
    )
    assert values["Received-SPF"] == spf
    assert values["Authentication-Results"] == f"amazonses.com;\r\n spf={spf}"


def test_two_recipients_make_one_object_whose_received_header_names_neither(
    aws: Aws, bucket: str, listener: SesSmtpListener
) -> None:
    message_id = accepted_id(send(listener, MAIL, to=[ALICE, BOB]))

    assert stored_keys(aws, bucket) == [f"inbound/{message_id}"]
    received = dict(split_prepended(decrypt(aws, bucket, f"inbound/{message_id}"), MAIL))["Received"]
    assert re.fullmatch(
        rf"from mfp-4020\.corp\.example \(\[127\.0\.0\.1\]\)\r\n"
        rf" by inbound-smtp\.eu-west-1\.amazonaws\.com with SMTP id {message_id};\r\n {SES_DATE}",
        received,
    )


def test_each_message_of_a_session_gets_its_own_object_and_id(aws: Aws, bucket: str, listener: SesSmtpListener) -> None:
    with connect(listener) as client:
        first = accepted_id(transaction(client, MAIL, to=[ALICE]))
        second = accepted_id(transaction(client, MAIL, to=[BOB]))

    assert first != second
    assert sorted(stored_keys(aws, bucket)) == sorted([f"inbound/{first}", f"inbound/{second}"])


def test_a_repeated_recipient_is_one_recipient(aws: Aws, bucket: str, listener: SesSmtpListener) -> None:
    message_id = accepted_id(send(listener, MAIL, to=[ALICE, ALICE.upper()]))

    received = dict(split_prepended(decrypt(aws, bucket, f"inbound/{message_id}"), MAIL))["Received"]
    assert f" for {ALICE};" in received


def test_a_message_of_5_mib_or_more_is_written_as_a_multipart_upload(
    aws: Aws, bucket: str, listener: SesSmtpListener
) -> None:
    big = scanner_mail([("big.pdf", pdf_bytes(MULTIPART_THRESHOLD))], to=ALICE)

    message_id = accepted_id(send(listener, big, to=[ALICE]))

    key = f"inbound/{message_id}"
    # A multipart object's ETag is "<md5 of the part md5s>-<number of parts>".
    assert aws.s3.head_object(Bucket=bucket, Key=key)["ETag"].endswith('-2"')
    assert decrypt(aws, bucket, key).endswith(big)


def test_a_small_message_is_written_with_one_put(aws: Aws, bucket: str, listener: SesSmtpListener) -> None:
    message_id = accepted_id(send(listener, MAIL, to=[ALICE]))

    assert "-" not in aws.s3.head_object(Bucket=bucket, Key=f"inbound/{message_id}")["ETag"]


def test_a_null_sender_is_accepted_with_an_empty_return_path(aws: Aws, bucket: str, listener: SesSmtpListener) -> None:
    with connect(listener) as client:
        assert client.docmd("MAIL", "FROM:<>")[0] == 250
        assert client.rcpt(ALICE)[0] == 250
        message_id = accepted_id(client.data(MAIL))

    values = dict(split_prepended(decrypt(aws, bucket, f"inbound/{message_id}"), MAIL))
    assert values["Return-Path"] == "<>"
    assert "envelope-from=; helo=mfp-4020.corp.example;" in values["Received-SPF"]


# --------------------------------------------------------------------------- refused mail


@pytest.mark.parametrize(
    "recipient",
    [
        "bob@example.com",
        f"bob@sub.{DOMAIN}",  # a rule for a domain does not take its subdomains
        f"bob@{DOMAIN}.evil.example",
        f"bob@x{DOMAIN}",
    ],
)
def test_a_recipient_outside_the_rule_domain_gets_550_and_nothing_is_stored(
    aws: Aws, bucket: str, listener: SesSmtpListener, recipient: str
) -> None:
    with connect(listener) as client:
        client.mail(SENDER)
        assert client.rcpt(recipient) == (550, b"5.1.1 Mailbox does not exist")
        assert client.docmd("DATA")[0] == 503  # no recipient was accepted

    assert stored_keys(aws, bucket) == []


def test_the_rule_domain_matches_in_any_case(listener: SesSmtpListener) -> None:
    with connect(listener) as client:
        client.mail(SENDER)
        assert client.rcpt("Alice@IN.Mailroom.LOCALHOST")[0] == 250


@pytest.mark.parametrize("argument", ["TO:<no-at-sign>", "TO:<a@b@c>", "TO:<>"])
def test_a_malformed_recipient_is_a_syntax_error(listener: SesSmtpListener, argument: str) -> None:
    with connect(listener) as client:
        client.mail(SENDER)
        assert client.docmd("RCPT", argument)[0] in {501, 553}


def test_recipients_beyond_the_ses_limit_of_50_get_452_and_the_rest_is_delivered(
    aws: Aws, bucket: str, listener: SesSmtpListener
) -> None:
    recipients = [f"user{n}@{DOMAIN}" for n in range(51)]

    with connect(listener) as client:
        client.mail(SENDER)
        replies = [client.rcpt(recipient)[0] for recipient in recipients]
        message_id = accepted_id(client.data(MAIL))

    assert replies == [250] * 50 + [452]
    assert stored_keys(aws, bucket) == [f"inbound/{message_id}"]


def test_an_oversize_message_gets_552_nothing_is_stored_and_the_session_goes_on(aws: Aws, bucket: str) -> None:
    settings = settings_for(aws, bucket, max_message_bytes=10_000)
    small = scanner_mail([("small.pdf", pdf_bytes(1_000))], to=ALICE)
    large = scanner_mail([("large.pdf", pdf_bytes(20_000))], to=ALICE)

    with SesSmtpListener(settings, s3=aws.s3, kms=aws.kms) as listener, connect(listener) as client:
        assert client.has_extn("size")
        assert client.esmtp_features["size"] == "10000"
        assert client.mail(SENDER, ["SIZE=20000"]) == (552, b"5.3.4 Message too big")
        client.mail(SENDER)
        client.rcpt(ALICE)
        assert client.data(large) == (552, b"5.3.4 Message too big")
        assert stored_keys(aws, bucket) == []
        message_id = accepted_id(transaction(client, small, to=[ALICE]))

    assert stored_keys(aws, bucket) == [f"inbound/{message_id}"]


# --------------------------------------------------------------------------- storage failures


def test_a_kms_failure_is_a_temporary_failure_and_nothing_is_stored(aws: Aws, bucket: str) -> None:
    missing_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}"
    settings = settings_for(aws, bucket, kms_key_id=missing_key)

    with SesSmtpListener(settings, s3=aws.s3, kms=aws.kms) as listener:
        code, text = send(listener, MAIL, to=[ALICE])

    assert (code, text.split(b" ")[0]) == (451, b"4.3.0")
    assert stored_keys(aws, bucket) == []


def test_after_a_storage_failure_the_listener_serves_the_next_message(aws: Aws) -> None:
    bucket = new_bucket_name()  # not created yet: S3 refuses the first write

    with SesSmtpListener(settings_for(aws, bucket), s3=aws.s3, kms=aws.kms) as listener, connect(listener) as client:
        assert transaction(client, MAIL, to=[ALICE])[0] == 451
        create_bucket(aws, bucket)
        retried_in_session = accepted_id(transaction(client, MAIL, to=[ALICE]))
        retried_on_new_connection = accepted_id(send(listener, MAIL, to=[ALICE]))

    assert sorted(stored_keys(aws, bucket)) == sorted(
        [f"inbound/{retried_in_session}", f"inbound/{retried_on_new_connection}"]
    )


# --------------------------------------------------------------------------- setup, logs, lifecycle


def test_the_setup_notification_is_written_once(aws: Aws, bucket: str, listener: SesSmtpListener) -> None:
    assert listener.write_setup_notification() is True
    assert listener.write_setup_notification() is False

    assert stored_keys(aws, bucket) == ["inbound/AMAZON_SES_SETUP_NOTIFICATION"]
    body = aws.s3.get_object(Bucket=bucket, Key="inbound/AMAZON_SES_SETUP_NOTIFICATION")["Body"].read()
    assert b"\r\nSubject: Amazon SES Setup Notification\r\n" in body
    assert b"deliver emails to this S3 bucket" in body


def test_one_log_line_per_accepted_message_and_never_its_content(
    aws: Aws, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Quarterly figures: do not forward"
    mail = scanner_mail([], to=ALICE, text=secret)

    with SesSmtpListener(settings_for(aws, bucket), s3=aws.s3, kms=aws.kms) as listener:
        caplog.clear()
        message_id = accepted_id(send(listener, mail, to=[ALICE, BOB]))

    accepted = [record for record in caplog.records if record.name == "mailroom_cli.local.smtp"]
    assert [record.getMessage() for record in accepted] == [
        f"accepted message {message_id}: {len(decrypt(aws, bucket, f'inbound/{message_id}'))} bytes, 2 recipient(s)"
    ]
    assert secret not in caplog.text


def test_the_listener_serves_only_between_start_and_stop(aws: Aws, bucket: str) -> None:
    listener = SesSmtpListener(settings_for(aws, bucket), s3=aws.s3, kms=aws.kms)
    with pytest.raises(RuntimeError, match="not running"):
        _ = listener.address

    listener.start()
    try:
        host, port = listener.address
        assert port != 0
        with pytest.raises(RuntimeError, match="already running"):
            listener.start()
        with connect(listener) as client:
            assert client.noop()[0] == 250
    finally:
        listener.stop()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=5).close()
    listener.stop()  # stopping twice is harmless


# --------------------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("address", "matches"),
    [
        (ALICE, True),
        ("ALICE@IN.MAILROOM.LOCALHOST", True),
        ('"a@b"@in.mailroom.localhost', True),
        (f"@{DOMAIN}", False),
        (DOMAIN, False),
        (f"a@sub.{DOMAIN}", False),
        (f"a@{DOMAIN}.", False),
    ],
)
def test_recipient_matching_is_the_exact_domain_ignoring_ascii_case(address: str, matches: bool) -> None:
    assert recipient_matches(address, DOMAIN) is matches


def test_recipient_matching_does_not_fold_unicode_into_the_domain() -> None:
    # "\u212a" (KELVIN SIGN) lower-cases to an ASCII "k".
    assert recipient_matches("a@\u212aey.example", "key.example") is False


def trace(**overrides: Any) -> str:
    values: dict[str, Any] = {
        "message_id": "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1",
        "mail_from": SENDER,
        "helo": "mfp-4020.corp.example",
        "peer_ip": "127.0.0.1",
        "recipients": [ALICE],
        "settings": SesSmtpSettings(
            domain=DOMAIN, bucket="b", kms_key_id="k", account_id=ACCOUNT, region=REGION, rule_name=RULE
        ),
        "received_at": datetime(2020, 12, 9, 9, 19, 29, tzinfo=UTC),
    }
    return ses_trace_headers(**(values | overrides)).decode("utf-8")


def test_trace_headers_match_what_ses_writes_for_one_recipient() -> None:
    assert trace().split("\r\n")[:5] == [
        f"Return-Path: <{SENDER}>",
        "Received: from mfp-4020.corp.example ([127.0.0.1])",
        " by inbound-smtp.eu-west-1.amazonaws.com with SMTP id o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1",
        f" for {ALICE};",
        " Wed, 09 Dec 2020 09:19:29 +0000 (UTC)",
    ]


def test_trace_headers_without_scanning_carry_no_verdicts() -> None:
    settings = SesSmtpSettings(
        domain=DOMAIN, bucket="b", kms_key_id="k", account_id=ACCOUNT, region=REGION, rule_name=RULE, scan_enabled=False
    )

    assert "X-SES-" not in trace(settings=settings)


def test_envelope_values_cannot_start_header_lines_of_their_own() -> None:
    headers = trace(helo="evil\nX-SES-Spam-Verdict: FAIL", mail_from="a\r\nX-Injected: 1@corp.example")

    assert "\n" not in headers.replace("\r\n", "")
    lines = headers.split("\r\n")
    assert not [line for line in lines if line.startswith(("X-Injected", "X-SES-Spam-Verdict: FAIL"))]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_id", "12345"),
        ("domain", "alice@in.mailroom.localhost"),
        ("domain", ""),
        ("bucket", ""),
        ("port", 70000),
        ("max_message_bytes", 0),
    ],
)
def test_settings_refuse_values_that_cannot_work(field: str, value: Any) -> None:
    values: dict[str, Any] = {
        "domain": DOMAIN,
        "bucket": "b",
        "kms_key_id": "k",
        "account_id": ACCOUNT,
        "region": REGION,
        "rule_name": RULE,
    }
    with pytest.raises(ValueError, match=field):
        SesSmtpSettings(**(values | {field: value}))


# ------------------------------------------------------------------ TLS like the rule's TlsPolicy Require


def test_starttls_is_offered_and_smtputf8_is_not(listener: SesSmtpListener) -> None:
    with connect(listener, starttls=False) as client:
        assert client.has_extn("starttls")
        assert not client.has_extn("smtputf8")


def test_mail_without_starttls_is_refused_and_nothing_is_stored(
    aws: Aws, bucket: str, listener: SesSmtpListener
) -> None:
    with connect(listener, starttls=False) as client:
        code, text = client.mail(SENDER)

    assert (code, text.decode()[:5]) == (530, "5.7.0")
    assert stored_keys(aws, bucket) == []


def test_with_allow_plaintext_mail_without_tls_is_accepted(aws: Aws, bucket: str) -> None:
    plaintext = settings_for(aws, bucket, allow_plaintext=True)
    with SesSmtpListener(plaintext, s3=aws.s3, kms=aws.kms) as plain, connect(plain, starttls=False) as client:
        message_id = accepted_id(transaction(client, MAIL, to=[ALICE]))

    assert stored_keys(aws, bucket) == [f"inbound/{message_id}"]


def test_a_line_over_1000_octets_gets_an_enhanced_5xx_and_nothing_is_stored(
    aws: Aws, bucket: str, listener: SesSmtpListener
) -> None:
    long_line = b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\n"

    code, text = send(listener, long_line, to=[f"scans@{DOMAIN}"])

    assert code == 500
    assert text.decode().startswith("5.5.6")
    assert stored_keys(aws, bucket) == []


def test_bare_lf_lines_are_accepted_as_ses_accepts_them(aws: Aws, bucket: str, listener: SesSmtpListener) -> None:
    # smtplib turns bare LFs into CRLF: the bytes go on the wire by hand, as a scanner's SMTP stack may send them.
    lines = [b"Subject: bare lf", b"From: a@example.com", b"", *[b"a line of a report " * 4] * 30]
    raw = b"\n".join(lines) + b"\n"
    assert len(raw) > 1000  # one "line" to a reader that only knows CRLF

    with connect(listener) as client:
        assert client.mail(SENDER)[0] == 250
        assert client.rcpt(ALICE)[0] == 250
        assert client.docmd("DATA")[0] == 354
        client.send(raw + b"end\r\n.\r\n")
        code, text = client.getreply()

    assert code == 250, text
    [key] = stored_keys(aws, bucket)
    assert decrypt(aws, bucket, key).endswith(raw + b"end\r\n")  # stored as received


def test_the_notification_names_the_envelope_recipients_not_the_headers(aws: Aws, bucket: str) -> None:
    sns, sqs = (boto3.session.Session(region_name=REGION).client(name) for name in ("sns", "sqs"))
    topic = sns.create_topic(Name=f"incoming-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    settings = settings_for(aws, bucket, topic_arn=topic)
    message = b"From: a@example.com\r\nTo: someone-else@" + DOMAIN.encode() + b"\r\nSubject: s\r\n\r\nbody\r\n"

    with SesSmtpListener(settings, s3=aws.s3, kms=aws.kms, sns=sns) as announcing:
        message_id = accepted_id(send(announcing, message, to=[f"scans@{DOMAIN}", f"Accounts@{DOMAIN}"]))

    [queued] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    notification = json.loads(queued["Body"])
    assert notification["notificationType"] == "Received"
    assert notification["mail"]["messageId"] == message_id
    assert notification["mail"]["destination"] == [f"someone-else@{DOMAIN}"]
    assert notification["receipt"]["recipients"] == [f"scans@{DOMAIN}", f"Accounts@{DOMAIN}"]
    assert notification["receipt"]["action"] == {
        "type": "S3",
        "topicArn": topic,
        "bucketName": bucket,
        "objectKeyPrefix": "inbound/",
        "objectKey": f"inbound/{message_id}",
    }
    assert notification["receipt"]["virusVerdict"] == {"status": "PASS"}
