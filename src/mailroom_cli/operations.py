"""What the CLI does, as functions over a ``Target`` (thin layers over paginated boto3 calls)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import mimetypes
import re
import smtplib
import ssl
import tempfile
import urllib.parse
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import IO, Any

from mailroom.adapters.dynamodb import DynamoMailboxRegistry, from_item, to_item
from mailroom.adapters.kms import KmsKeyService
from mailroom.crypto import decrypt_ses_object
from mailroom.mime.filenames import safe_filename
from mailroom.routing import candidate_addresses, in_domain, resolve
from mailroom.sesformat import is_ses_message_id
from mailroom.sinks import TempFileSink
from mailroom.steps.inbox import DEDUP_PREFIX

from mailroom_cli.target import Target

MIN_PREFIX = 6
_ID_PREFIX = re.compile(r"[0-9a-v]+")


class OperationError(RuntimeError):
    """A CLI operation that cannot be done as asked (unknown item, bad address…)."""


class DamagedArchiveError(OperationError):
    """Archived bytes whose SHA-256 is not the one recorded: never handed out as if whole."""


def _scan(target: Target, table: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    paginator = target.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=table, **kwargs):
        for item in page.get("Items", []):
            yield from_item(item)


# ---------------------------------------------------------------------------- mailboxes


def add_mailbox(
    target: Target, address: str, *, user: str, tenant: str = "default", force: bool = False
) -> dict[str, str]:
    """Register ``address`` (lower-cased) for ``user``; it must be in the stack's recipient domain.

    An address that already feeds another user's inbox is refused (its mail would silently start going
    elsewhere) unless ``force``; registering it again for the same user and tenant changes nothing.
    """
    address, user, tenant = address.strip().lower(), user.strip(), tenant.strip()
    domain = target.names.get("RecipientDomain")
    if "@" not in address or (domain and not in_domain(address, domain)):
        raise OperationError(f"{address!r} is not an address in the recipient domain {domain}")
    if not user or not tenant:
        raise OperationError("--user and --tenant must not be empty")
    item = {"address": address, "user": user, "tenant": tenant, "enabled": True}
    condition: dict[str, Any] = {}
    if not force:
        condition = {
            "ConditionExpression": "attribute_not_exists(address) OR (#u = :u AND tenant = :t)",
            "ExpressionAttributeNames": {"#u": "user"},
            "ExpressionAttributeValues": {":u": {"S": user}, ":t": {"S": tenant}},
        }
    ddb = target.client("dynamodb")
    try:
        ddb.put_item(TableName=target.name("MailboxTableName"), Item=to_item(item), **condition)
    except ddb.exceptions.ConditionalCheckFailedException:
        current = from_item(
            ddb.get_item(TableName=target.name("MailboxTableName"), Key={"address": {"S": address}})["Item"]
        )
        raise OperationError(
            f"{address} already feeds user {current['user']} (tenant {current.get('tenant', 'default')}): "
            "give --force to move it"
        ) from None
    return {"address": address, "user": user, "tenant": tenant}


def list_mailboxes(target: Target) -> list[dict[str, str]]:
    """Every registered mailbox, sorted by address."""
    items = _scan(target, target.name("MailboxTableName"))
    rows = [{"address": i["address"], "user": i["user"], "tenant": i.get("tenant", "default")} for i in items]
    return sorted(rows, key=lambda r: r["address"])


# ---------------------------------------------------------------------------- inbox


def _inbox_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["message_id"],
        "message_id": item["message_id"],
        "user": item["user"],
        "subject": item.get("subject"),
        "from": item.get("from"),
        "received_at": item.get("received_at"),
        "attachments": [
            {
                "filename": a.get("filename"),
                "safe_filename": a.get("safe_filename"),
                "content_type": a.get("content_type"),
                "size": int(a.get("size", 0)),
                "sha256": a.get("sha256"),
            }
            for a in item.get("attachments") or []
        ],
    }


def inbox(target: Target, user: str) -> list[dict[str, Any]]:
    """The user's inbox items, newest first."""
    paginator = target.client("dynamodb").get_paginator("query")
    rows: list[dict[str, Any]] = []
    for page in paginator.paginate(
        TableName=target.name("InboxTableName"),
        KeyConditionExpression="#u = :u",
        ExpressionAttributeNames={"#u": "user"},
        ExpressionAttributeValues={":u": {"S": user}},
    ):
        items = (from_item(i) for i in page.get("Items", []))
        rows.extend(_inbox_row(i) for i in items if not str(i["message_id"]).startswith(DEDUP_PREFIX))
    return sorted(rows, key=lambda r: str(r["received_at"] or ""), reverse=True)


def inbox_item(target: Target, item_id: str, *, user: str | None = None) -> dict[str, Any]:
    """One inbox item with its archive keys (by user + id, or found by id alone)."""
    table = target.name("InboxTableName")
    if user is not None:
        response = target.client("dynamodb").get_item(
            TableName=table, Key={"user": {"S": user}, "message_id": {"S": item_id}}, ConsistentRead=True
        )
        if "Item" not in response:
            raise OperationError(f"user {user} has no inbox item {item_id}")
        return from_item(response["Item"])
    matches = list(
        _scan(
            target,
            table,
            FilterExpression="message_id = :m",
            ExpressionAttributeValues={":m": {"S": item_id}},
        )
    )
    if not matches:
        raise OperationError(f"no inbox item {item_id}")
    if len(matches) > 1:
        users = ", ".join(sorted(str(m["user"]) for m in matches))
        raise OperationError(f"{item_id} is in several inboxes ({users}): say which with --user")
    return matches[0]


def save_attachments(
    target: Target, item: dict[str, Any], directory: Path, *, bodies: bool = False, overwrite: bool = False
) -> list[Path]:
    """Download every attachment of ``item`` from the archive into ``directory``, checking each SHA-256.

    With ``bodies``, the text and HTML bodies too (``body.txt``, ``body.html``). An existing file is never
    overwritten unless ``overwrite``: the new one gets a numbered name (``scan (2).pdf``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    used: set[str] = set() if overwrite else {p.name.lower() for p in directory.iterdir()}
    files: list[tuple[str, str, str | None]] = []  # (name, key, sha256)
    for number, attachment in enumerate(item.get("attachments") or [], start=1):
        # The parser made the name safe; made safe again here, a damaged or forged item cannot write
        # outside ``directory`` either (``../x``, an absolute path, a device name).
        files.append((attachment_name(attachment, number), str(attachment["key"]), attachment.get("sha256")))
    if bodies:
        manifest = _manifest(target, item)
        for part, name in (("text", "body.txt"), ("html", "body.html")):
            ref = manifest.get(part)
            if ref:
                files.append((name, str(ref["key"]), ref.get("sha256")))
    saved: list[Path] = []
    for wanted, key, sha256 in files:
        name = _unique(wanted, used)
        path = directory / name
        with path.open("wb") as out:
            intact = _copy_verified(_archived(target, item, key)["Body"], out, sha256)
        if not intact:
            path.unlink()
            raise DamagedArchiveError(f"{name}: the archived bytes do not match the recorded SHA-256")
        saved.append(path)
    return saved


def items_of_email(target: Target, message_id: str, recipients: Sequence[str]) -> list[dict[str, Any]]:
    """The inbox items an email made: one per user its envelope recipients reach (the registry as it is now)."""
    domain = target.names.get("RecipientDomain")
    registry = DynamoMailboxRegistry(target.name("MailboxTableName"), target.client("dynamodb"))
    addresses = candidate_addresses(recipients, domain) if domain else [a.lower() for a in recipients]
    users = dict.fromkeys(m.user for m in resolve(addresses, registry).values())
    rows = []
    for user in users:
        try:
            rows.append(_inbox_row(inbox_item(target, message_id, user=user)))
        except OperationError:
            continue  # routed there by today's registry, not delivered there
    return rows


def _archived(target: Target, item: dict[str, Any], key: str) -> Any:
    bucket = str(item.get("archive_bucket") or target.name("ArchiveBucketName"))
    return target.client("s3").get_object(Bucket=bucket, Key=key)


def _manifest(target: Target, item: dict[str, Any]) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(_archived(target, item, str(item["manifest_key"]))["Body"].read())
    return manifest


def item_text(target: Target, item: dict[str, Any]) -> tuple[bytes | None, bool]:
    """An inbox item's text body as archived (None when the email had none), and whether it has an HTML body."""
    manifest = _manifest(target, item)
    ref = manifest.get("text")
    text = _archived(target, item, str(ref["key"]))["Body"].read() if ref else None
    return text, bool(manifest.get("html"))


_CID_REFERENCE = re.compile(rb"""cid:([^"'\s<>()]+)""", re.IGNORECASE)
_IMAGE_TYPE = re.compile(r"image/[a-z0-9.+-]+")
INLINE_IMAGES_BUDGET = 8 << 20  # bytes of images put inline into one HTML body


def html_with_inline_images(target: Target, item: dict[str, Any]) -> bytes | None:
    """An item's HTML body with its ``cid:`` images (the email's own inline parts) as ``data:`` URIs.

    Only images the email carries, checked against their SHA-256, up to ``INLINE_IMAGES_BUDGET``; a
    reference to anything else stays as it was (and loads nothing). None when the email has no HTML body.
    """
    manifest = _manifest(target, item)
    ref = manifest.get("html")
    if not ref:
        return None
    html: bytes = _archived(target, item, str(ref["key"]))["Body"].read()
    wanted = {_content_id(m) for m in _CID_REFERENCE.findall(html)}
    images: dict[str, bytes] = {}
    budget = INLINE_IMAGES_BUDGET
    for part in manifest.get("attachments") or []:
        content_id = str(part.get("content_id") or "").lower()
        content_type = str(part.get("content_type") or "").lower()
        size = int(part.get("size") or 0)
        if content_id not in wanted or content_id in images or not _IMAGE_TYPE.fullmatch(content_type):
            continue
        if size > budget:
            continue
        data = _archived(target, item, str(part["location"]["key"]))["Body"].read()
        if hashlib.sha256(data).hexdigest() != part.get("sha256"):
            continue  # damaged in the archive: not shown as if whole
        images[content_id] = f"data:{content_type};base64,".encode() + base64.b64encode(data)
        budget -= size
    return _CID_REFERENCE.sub(lambda m: images.get(_content_id(m.group(1)), m.group(0)), html)


def _content_id(reference: bytes) -> str:
    return urllib.parse.unquote(reference.decode("ascii", errors="replace")).lower()


def attachment_name(attachment: dict[str, Any], number: int) -> str:
    """The file name an attachment is saved under (made safe again: a damaged item cannot name a path)."""
    content_type = str(attachment.get("content_type") or "application/octet-stream")
    return safe_filename(str(attachment.get("safe_filename") or ""), content_type, number)


def verified_attachment(target: Target, item: dict[str, Any], number: int) -> tuple[str, IO[bytes]]:
    """Attachment ``number`` (1-based) of an inbox item: its file name and its bytes, checked against the recorded
    SHA-256 before anyone sees them (spooled to disk past 8 MiB); a mismatch is an error, as for ``inbox get``."""
    attachments = item.get("attachments") or []
    if not 1 <= number <= len(attachments):
        raise OperationError(f"item {item['message_id']} has no attachment {number}")
    attachment = attachments[number - 1]
    name = attachment_name(attachment, number)
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 (the caller streams and closes it)
    if not _copy_verified(_archived(target, item, str(attachment["key"]))["Body"], spool, attachment.get("sha256")):
        spool.close()
        raise DamagedArchiveError(f"{name}: the archived bytes do not match the recorded SHA-256")
    spool.seek(0)
    return name, spool


def _copy_verified(body: Any, out: IO[bytes], sha256: str | None) -> bool:
    """Copy ``body`` into ``out`` in 1 MiB pieces; whether the bytes have the recorded SHA-256."""
    digest = hashlib.sha256()
    while chunk := body.read(1 << 20):
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest() == sha256


def resolve_message_id(target: Target, reference: str) -> str:
    """An SES message id from itself or an unambiguous prefix of at least 6 characters (the tables show ids whole)."""
    reference = reference.strip()
    if is_ses_message_id(reference) or reference.startswith("arn:"):
        return reference
    if len(reference) < MIN_PREFIX or not _ID_PREFIX.fullmatch(reference):
        raise OperationError(f"{reference!r} is neither an SES message id nor a prefix of one (6+ of [0-9a-v])")
    found = sorted(
        str(i["message_id"])
        for i in _scan(
            target,
            target.name("StatusTableName"),
            FilterExpression="begins_with(message_id, :p)",
            ExpressionAttributeValues={":p": {"S": reference}},
            ProjectionExpression="message_id",
        )
    )
    if not found:
        raise OperationError(f"no email whose id starts with {reference}")
    if len(found) > 1:
        raise OperationError(f"{reference} is ambiguous: {len(found)} emails start with it ({', '.join(found[:3])}…)")
    return found[0]


def _unique(name: str, used: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate, n = name, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem} ({n}).{suffix}" if suffix else f"{stem} ({n})"
    used.add(candidate.lower())
    return candidate


# ---------------------------------------------------------------------------- raw


def save_raw(target: Target, message_id: str, output: Path) -> int:
    """Decrypt the stored original ``inbound/<message_id>`` into ``output``; its size in bytes."""
    s3 = target.client("s3")
    bucket = target.name("IncomingBucketName")
    key = target.names.get("IncomingPrefix", "inbound/") + message_id
    response = s3.get_object(Bucket=bucket, Key=key)
    account = target.name("KmsKeyArn").split(":")[4]

    def publish(body: Any, size: int) -> None:
        with output.open("wb") as out:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                out.write(chunk)

    result = decrypt_ses_object(
        response["Body"],
        metadata=response.get("Metadata", {}),
        size=response["ContentLength"],
        keys=KmsKeyService(target.client("kms")),
        sink=TempFileSink(publish),
        expected_account=account,
        expected_message_id=message_id,
    )
    return result.size


# ---------------------------------------------------------------------------- send


def build_message(
    *, to: Sequence[str], sender: str, subject: str, body: str, attachments: Sequence[Path]
) -> EmailMessage:
    """A plain email with files attached (types guessed from their names)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(body)
    for path in attachments:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, _, subtype = kind.partition("/")
        if maintype in ("message", "multipart"):  # attached as a file (base64), not re-parsed as MIME
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return message


def send(smtp: str, message: EmailMessage, *, to: Sequence[str], sender: str, cafile: str | None = None) -> str:
    """Deliver ``message`` over SMTP with STARTTLS; the server's reply to DATA (locally ``Ok <SES message id>``)."""
    return send_raw(smtp, message.as_bytes(policy=SMTP), to=to, sender=sender, cafile=cafile)


def tls_context(host: str, cafile: str | None) -> ssl.SSLContext:
    """The client's TLS: verified against ``cafile`` (or the system's CAs); a loopback listener without a
    ``cafile`` (the local stack's self-signed certificate) is encrypted but not verified."""
    if cafile is not None or not is_loopback(host):
        return ssl.create_default_context(cafile=cafile)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (a loopback address, or ``localhost``)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def send_raw(
    smtp: str, data: bytes, *, to: Sequence[str], sender: str, cafile: str | None = None, starttls: bool = True
) -> str:
    """Deliver raw message bytes over SMTP (STARTTLS unless ``starttls=False``); the server's reply to DATA."""
    host, _, port = smtp.rpartition(":")
    with smtplib.SMTP(host, int(port), timeout=60) as client:
        client.ehlo("mailroom-cli")
        if starttls:
            if not client.has_extn("starttls"):
                raise OperationError(f"{smtp} does not offer STARTTLS")
            client.starttls(context=tls_context(host, cafile))
            client.ehlo("mailroom-cli")
        code, reply = client.mail(sender)
        if code != 250:
            raise OperationError(f"MAIL FROM refused: {code} {reply.decode(errors='replace')}")
        for address in to:
            code, reply = client.rcpt(address)
            if code not in (250, 251):
                raise OperationError(f"{address} refused: {code} {reply.decode(errors='replace')}")
        code, reply = client.data(data)
        if code != 250:
            raise OperationError(f"message refused: {code} {reply.decode(errors='replace')}")
    return reply.decode(errors="replace")


# ---------------------------------------------------------------------------- status


def email_status(target: Target, message_id: str) -> str | None:
    """The status record's ``status`` for one email (None when there is no record yet)."""
    response = target.client("dynamodb").get_item(
        TableName=target.name("StatusTableName"), Key={"message_id": {"S": message_id}}, ConsistentRead=True
    )
    item = response.get("Item")
    return str(item["status"]["S"]) if item and "status" in item else None
