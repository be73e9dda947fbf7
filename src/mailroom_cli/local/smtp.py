"""An SMTP listener that plays SES receiving: it accepts mail for one domain and stores it as SES would.

Each accepted message gets a fresh SES message id, the trace and verdict headers SES prepends, and
is written client-side encrypted with the rule's KMS key to ``<prefix><message id>`` in the incoming
bucket: one object per message, whatever the number of recipients. Messages of 5 MiB and more are
written with a multipart upload. Once the object is stored, SES's receipt notification, with the
real RCPT TO list as ``receipt.recipients``, is published to the rule's topic (which the template
subscribes the incoming queue to).

Like a receipt rule with ``TlsPolicy: Require``, the listener offers STARTTLS (a self-signed
certificate made at start-up) and refuses mail sent without it (``allow_plaintext`` for clients that
cannot). It does not offer SMTPUTF8, which SES does not support.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ipaddress
import logging
import re
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import TYPE_CHECKING, AnyStr, Final, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mailroom.sesformat import is_account_id

from mailroom_cli.local.notification import publish, ses_notification
from mailroom_cli.local.ses_producer import KmsDataKeys, encrypt_for_ses, new_ses_message_id

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES: Final = 40 * 1024 * 1024
MAX_RECIPIENTS: Final = 50
MULTIPART_THRESHOLD: Final = 5 * 1024 * 1024
PART_SIZE: Final = 5 * 1024 * 1024
SETUP_NOTIFICATION: Final = "AMAZON_SES_SETUP_NOTIFICATION"

REPLY_NO_SUCH_MAILBOX: Final = "550 5.1.1 Mailbox does not exist"
REPLY_BAD_ADDRESS: Final = "501 5.1.3 Bad recipient address syntax"
REPLY_TOO_MANY_RECIPIENTS: Final = "452 4.5.3 Too many recipients"
REPLY_TOO_BIG: Final = "552 5.3.4 Message too big"
REPLY_TRY_LATER: Final = "451 4.3.0 Temporary failure storing the message, try again later"
REPLY_LINE_TOO_LONG: Final = "500 5.5.6 Line too long (RFC 5321 4.5.3.1.6: 1,000 octets with CRLF)"
REPLY_STARTTLS_FIRST: Final = "530 5.7.0 Must issue a STARTTLS command first (this rule requires TLS)"

# aiosmtpd enforces the size limit itself (while reading, without buffering the excess) but words
# its refusals its own way; these are reworded to the enhanced status code a mail server gives.
_REWORDED: Final = {
    "552 Error: Too much mail data": REPLY_TOO_BIG,
    "552 Error: message size exceeds fixed maximum message size": REPLY_TOO_BIG,
    "500 Line too long (see RFC5321 4.5.3.1.6)": REPLY_LINE_TOO_LONG,
    "500 Command line too long": REPLY_LINE_TOO_LONG,
    "530 Must issue a STARTTLS command first": REPLY_STARTTLS_FIRST,
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NULL_SENDER: Final = "<>"


@dataclass(frozen=True)
class SesSmtpSettings:
    """What the emulated receipt rule and its S3 action are: recipient domain, bucket, prefix, key."""

    domain: str
    bucket: str
    kms_key_id: str
    account_id: str
    region: str
    rule_name: str
    host: str = "127.0.0.1"
    port: int = 2525
    prefix: str = "inbound/"
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_recipients: int = MAX_RECIPIENTS
    scan_enabled: bool = True
    allow_plaintext: bool = False  # TlsPolicy Require refuses mail without STARTTLS; True for clients that cannot
    topic_arn: str = ""  # the S3 action's TopicArn: where the receipt notification goes ("" = none)

    def __post_init__(self) -> None:
        for name in ("domain", "bucket", "kms_key_id", "region", "rule_name", "host"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
        if "@" in self.domain or not self.domain.isascii():
            raise ValueError("domain must be an ASCII domain name, not an address")
        if not is_account_id(self.account_id):
            raise ValueError("account_id must be a 12-digit AWS account id")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535 (0: any free port)")
        if self.max_message_bytes <= 0 or self.max_recipients <= 0:
            raise ValueError("max_message_bytes and max_recipients must be positive")

    @property
    def smtp_host(self) -> str:
        """The name SES's receiving endpoint has in this region (the ``by`` of its Received header)."""
        return f"inbound-smtp.{self.region}.amazonaws.com"


def recipient_matches(address: str, domain: str) -> bool:
    """Whether a receipt rule naming ``domain`` takes mail for ``address``: that domain exactly, any case.

    A rule for ``example.com`` does not take mail for its subdomains (that takes ``.example.com``).
    """
    local, at, address_domain = address.rpartition("@")
    return bool(at and local) and address_domain.isascii() and address_domain.lower() == domain.lower()


def ses_trace_headers(
    *,
    message_id: str,
    mail_from: str,
    helo: str,
    peer_ip: str,
    recipients: list[str],
    settings: SesSmtpSettings,
    received_at: datetime,
) -> bytes:
    """The header block SES prepends to a received message, in SES's order and folding.

    ``Received`` names the recipient only when there is exactly one. SPF cannot be evaluated
    offline, so it reports ``none``; there is no DKIM or DMARC line, as SES writes none when it has
    no signature or policy to check. SES's own ``X-SES-RECEIPT``/``X-SES-DKIM-SIGNATURE`` are
    signatures of AWS's and are not imitated.
    """
    sender = "" if mail_from == _NULL_SENDER else _safe(mail_from)
    helo, peer_ip = _safe(helo), _safe(peer_ip)
    date = format_datetime(received_at.astimezone(UTC)) + " (UTC)"
    received = f"from {helo} ([{peer_ip}])\r\n by {settings.smtp_host} with SMTP id {message_id}"
    if len(recipients) == 1:
        received += f"\r\n for {_safe(recipients[0])};\r\n {date}"
    else:
        received += f";\r\n {date}"
    # With a null reverse-path SPF checks the HELO name (RFC 7208 section 2.3).
    spf_domain = sender.rpartition("@")[2] if sender else helo
    spf = (
        f"none (spfCheck: {peer_ip} is neither permitted nor denied by domain of {spf_domain})"
        f" client-ip={peer_ip}; envelope-from={sender}; helo={helo};"
    )
    lines = [f"Return-Path: <{sender}>", f"Received: {received}"]
    if settings.scan_enabled:
        lines += ["X-SES-Spam-Verdict: PASS", "X-SES-Virus-Verdict: PASS"]
    lines += [f"Received-SPF: {spf}", f"Authentication-Results: amazonses.com;\r\n spf={spf}"]
    return "".join(line + "\r\n" for line in lines).encode("utf-8", "replace")


def setup_notification_text(now: datetime) -> bytes:
    """The message SES writes as ``<prefix>AMAZON_SES_SETUP_NOTIFICATION`` when the rule is created."""
    lines = [
        f"Date: {format_datetime(now.astimezone(UTC))}",
        "To: recipient@example.com",
        "From: Amazon Web Services <no-reply-aws@amazon.com>",
        "Subject: Amazon SES Setup Notification",
        "",
        "Hello,",
        "",
        "You received this message because you attempted to set up Amazon SES to deliver emails to this S3 bucket.",
        "",
        "Please note that the rule that you configured to deliver emails to this S3 bucket is only valid if the"
        " entire setup process is successful. For more information about",
        "setting up email-receiving rules, see the Amazon SES Developer Guide at"
        " http://docs.aws.amazon.com/ses/latest/DeveloperGuide/Welcome.html .",
        "",
        "Thank you for using Amazon SES!",
        "",
        "The Amazon SES Team",
    ]
    return "".join(line + "\r\n" for line in lines).encode("ascii")


def _safe(value: str) -> str:
    # Envelope values come from the client; a bare LF inside a command line would otherwise start a
    # header of the client's choosing above everything the pipeline trusts.
    return _CONTROL.sub("?", value)


@dataclass
class SesReceiver:
    """The aiosmtpd handler: checks recipients like the receipt rule, stores accepted mail like its S3 action."""

    settings: SesSmtpSettings
    s3: S3Client = field(repr=False)
    kms: KMSClient = field(repr=False)
    sns: SNSClient | None = field(default=None, repr=False)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept a recipient in the rule's domain; refuse others, and any beyond SES's per-message limit."""
        if "@" not in address:
            return REPLY_BAD_ADDRESS
        if not recipient_matches(address, self.settings.domain):
            return REPLY_NO_SUCH_MAILBOX
        if address.lower() in (accepted.lower() for accepted in envelope.rcpt_tos):
            return "250 OK"
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return REPLY_TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message with SES's headers under a fresh SES message id; any storage fault is a 451."""
        content = envelope.original_content or b""
        if overlong_line(content):
            return REPLY_LINE_TOO_LONG
        message_id = new_ses_message_id()
        received_at = datetime.now(UTC)
        mail_from = envelope.mail_from or _NULL_SENDER
        headers = ses_trace_headers(
            message_id=message_id,
            mail_from=mail_from,
            helo=session.host_name or "unknown",
            peer_ip=_peer_ip(session),
            recipients=envelope.rcpt_tos,
            settings=self.settings,
            received_at=received_at,
        )
        message = headers + content
        loop = asyncio.get_running_loop()
        try:
            # boto3 blocks: store on a worker thread so other sessions keep being served meanwhile.
            await loop.run_in_executor(None, functools.partial(self.store, message, message_id))
        except Exception as exc:  # noqa: BLE001 - whatever the storage fault, the sender must retry, not lose mail
            logger.warning("could not store message %s (%s): replied 451", message_id, type(exc).__name__)
            return REPLY_TRY_LATER
        try:
            await loop.run_in_executor(
                None,
                functools.partial(
                    self.announce,
                    message,
                    message_id,
                    mail_from="" if mail_from == _NULL_SENDER else _safe(mail_from),
                    recipients=list(envelope.rcpt_tos),
                    received_at=received_at,
                ),
            )
        except Exception as exc:  # noqa: BLE001 - the object is stored; the sweep records it (no-envelope)
            logger.warning("could not publish the notification of %s (%s): replied 451", message_id, type(exc).__name__)
            return REPLY_TRY_LATER
        logger.info("accepted message %s: %d bytes, %d recipient(s)", message_id, len(message), len(envelope.rcpt_tos))
        return f"250 Ok {message_id}"

    def announce(
        self, message: bytes, message_id: str, *, mail_from: str, recipients: list[str], received_at: datetime
    ) -> str | None:
        """Publish SES's receipt notification for a stored message to the rule's topic; the SNS message id."""
        settings = self.settings
        if not settings.topic_arn or self.sns is None:
            return None
        verdict = "PASS" if settings.scan_enabled else "DISABLED"
        notification = ses_notification(
            message_id=message_id,
            message=message,
            mail_from=mail_from,
            recipients=recipients,
            topic_arn=settings.topic_arn,
            bucket=settings.bucket,
            prefix=settings.prefix,
            received_at=received_at,
            verdicts={"spam": verdict, "virus": verdict},
        )
        return publish(self.sns, settings.topic_arn, notification)

    def store(self, message: bytes, message_id: str) -> str:
        """Encrypt ``message`` as SES does and write it to ``<prefix><message_id>``; returns the key."""
        settings = self.settings
        encrypted = encrypt_for_ses(
            message,
            key_service=KmsDataKeys(self.kms),
            kms_key_id=settings.kms_key_id,
            message_id=message_id,
            rule_name=settings.rule_name,
            account_id=settings.account_id,
        )
        key = settings.prefix + message_id
        if encrypted.content_length < MULTIPART_THRESHOLD:
            self.s3.put_object(
                Bucket=settings.bucket,
                Key=key,
                Body=encrypted.body.read(),
                ContentLength=encrypted.content_length,
                Metadata=encrypted.metadata,
            )
            return key
        upload = self.s3.create_multipart_upload(Bucket=settings.bucket, Key=key, Metadata=encrypted.metadata)
        upload_id = upload["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            # BufferedReader.read(n) returns n bytes until the end: every part but the last is full size.
            while chunk := encrypted.body.read(PART_SIZE):
                number = len(parts) + 1
                part = self.s3.upload_part(
                    Bucket=settings.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append({"ETag": part["ETag"], "PartNumber": number})
            self.s3.complete_multipart_upload(
                Bucket=settings.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.s3.abort_multipart_upload(Bucket=settings.bucket, Key=key, UploadId=upload_id)
            raise
        return key


def _peer_ip(session: Session) -> str:
    peer: object = session.peer  # typed as str by aiosmtpd, but a (host, port, ...) tuple for TCP
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "unknown")


def self_signed_certificate(directory: str, host: str) -> tuple[str, str]:
    """A one-day ECDSA certificate for ``host`` (and localhost), written to ``directory``: ``(cert, key)`` paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailroom local SES emulator")])
    now = dt.datetime.now(dt.UTC)
    alternative: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        alternative.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        alternative.append(x509.DNSName(host))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = f"{directory}/smtp-cert.pem", f"{directory}/smtp-key.pem"
    with open(cert_path, "wb") as out:
        out.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


MAX_LINE_OCTETS: Final = 998  # RFC 5321 4.5.3.1.6: 1,000 octets with the CRLF


def overlong_line(content: bytes) -> bool:
    """Whether a line of ``content`` is over RFC 5321's limit, a bare LF ending a line as CRLF does."""
    return any(len(line.removesuffix(b"\r")) > MAX_LINE_OCTETS for line in content.split(b"\n"))


class _SesSmtp(SMTP):
    # aiosmtpd reads DATA up to CRLF with this limit, so bare-LF lines (which mail servers take, as SES
    # does) would add up to one "line" over 1,000 octets. Lines are checked in handle_DATA instead, LF or CRLF.
    line_length_limit = MAX_MESSAGE_BYTES + 1024

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str):
            await super().push(_REWORDED.get(status, status))
        else:
            await super().push(status)

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, reading the message in a few large pieces instead of one await per line.

        aiosmtpd awaits ``readuntil(CRLF)`` for every line, ~1,900 for a 140 KiB email: about 5% of the
        local stack's CPU (docs/benchmarks.md). Here each read runs to the next ``.CRLF``; the data ends
        at the first one that starts a line. The outcome is aiosmtpd's: the same size limit on the
        same byte count, the same dot-unstuffing (a line's leading dot, lines split at CRLF only),
        the same replies; data without ``.CRLF`` for a whole stream limit goes on line by line as
        aiosmtpd's own loop does.
        """
        if self._decode_data or "DATA" not in self._handle_hooks:
            await super().smtp_DATA(arg)
            return
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        received = bytearray()
        while self.transport is not None:  # pragma: no branch - eof_received cancels this coroutine
            try:
                received += await self._reader.readuntil(b".\r\n")
            except asyncio.CancelledError:
                self._writer.close()
                raise
            except asyncio.LimitOverrunError:
                await self._data_line_by_line(received)
                return
            if received == b".\r\n" or received.endswith(b"\r\n.\r\n"):
                break
        del received[-3:]  # the terminating ".CRLF" line
        if self.data_size_limit and len(received) > self.data_size_limit:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        content = (b"\r\n" + bytes(received)).replace(b"\r\n.", b"\r\n")[2:]
        await self._deliver(content)

    async def _data_line_by_line(self, received: bytearray) -> None:
        """The rest of DATA with aiosmtpd's own loop, after ``received`` (whole lines) held no end."""
        lines = [bytearray(line) for line in re.split(b"(?<=\r\n)", bytes(received)) if line]
        limit, num_bytes = self.data_size_limit, len(received)
        too_much = bool(limit and num_bytes > limit)
        too_long = False
        fragments: list[bytes] = []
        while self.transport is not None:  # pragma: no branch
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.CancelledError:
                self._writer.close()
                raise
            except asyncio.LimitOverrunError as e:
                too_long = too_long or not too_much
                lines.clear()
                line = await self._reader.read(e.consumed)
            if not fragments and line == b".\r\n":
                break
            num_bytes += len(line)
            if not (too_much or too_long) and limit and num_bytes > limit:
                too_much = True
                lines.clear()
            fragments.append(line)
            if line.endswith(b"\r\n"):
                if not (too_much or too_long):
                    lines.append(bytearray(b"".join(fragments)))
                fragments.clear()
        if too_long or too_much:
            await self.push(
                "500 Line too long (see RFC5321 4.5.3.1.6)" if too_long else "552 Error: Too much mail data"
            )
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        for text in lines:
            if text.startswith(b"."):
                del text[0]
        await self._deliver(b"".join(lines))

    async def _deliver(self, content: bytes) -> None:
        """aiosmtpd's end of DATA: the envelope's content, the handler's DATA hook, its reply."""
        assert self.envelope is not None
        self.envelope.content = content
        self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _SesSmtp(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # With port 0 the OS chose the port: learn it before aiosmtpd connects to check the server.
        if isinstance(self.server, asyncio.Server) and self.server.sockets:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it unannotated


class SesSmtpListener:
    """The SMTP listener of local mode; serves on its own thread between ``start()`` and ``stop()``."""

    def __init__(
        self, settings: SesSmtpSettings, *, s3: S3Client, kms: KMSClient, sns: SNSClient | None = None
    ) -> None:
        self.settings = settings
        self.receiver = SesReceiver(settings, s3=s3, kms=kms, sns=sns)
        self._controller: _Controller | None = None
        self._tls_directory: tempfile.TemporaryDirectory[str] | None = None
        self.certificate_path: str | None = None

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the listener serves on; with port 0, the port the OS chose."""
        if self._controller is None:
            raise RuntimeError("the SMTP listener is not running")
        return self.settings.host, int(self._controller.port)

    def start(self) -> None:
        """Bind and serve; returns once the listener answers."""
        if self._controller is not None:
            raise RuntimeError("the SMTP listener is already running")
        self._tls_directory = tempfile.TemporaryDirectory(prefix="mailroom-smtp-tls-")
        self.certificate_path, key_path = self_signed_certificate(self._tls_directory.name, self.settings.host)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certificate_path, key_path)
        controller = _Controller(
            self.receiver,
            hostname=self.settings.host,
            port=self.settings.port,
            server_hostname=self.settings.smtp_host,
            ident="ESMTP (mailroom local SES emulator)",
            data_size_limit=self.settings.max_message_bytes,
            tls_context=context,
            require_starttls=not self.settings.allow_plaintext,
            enable_SMTPUTF8=False,
        )
        # aiosmtpd logs every DATA line at DEBUG and every envelope address at INFO: keep email content
        # (and the chatter) out of the logs whatever the root level; this module logs one line a message.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        controller.start()
        self._controller = controller
        logger.info(
            "SMTP listener for @%s on %s:%d (bucket %s, prefix %r)",
            self.settings.domain,
            *self.address,
            self.settings.bucket,
            self.settings.prefix,
        )

    def stop(self) -> None:
        """Stop serving; a no-op when not running."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tls_directory is not None:
            self._tls_directory.cleanup()
            self._tls_directory = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def write_setup_notification(self, now: datetime | None = None) -> bool:
        """Write ``<prefix>AMAZON_SES_SETUP_NOTIFICATION`` unless it exists; returns whether it was written."""
        settings, s3 = self.settings, self.receiver.s3
        key = settings.prefix + SETUP_NOTIFICATION
        listing = s3.list_objects_v2(Bucket=settings.bucket, Prefix=key, MaxKeys=1)
        if any(item.get("Key") == key for item in listing.get("Contents", [])):
            return False
        s3.put_object(Bucket=settings.bucket, Key=key, Body=setup_notification_text(now or datetime.now(UTC)))
        return True
