"""Parse: the plaintext MIME in staging → attachments and bodies in staging, plus one manifest.

The state's output is a pointer to the manifest and two counts: the email's headers and file list
never enter the execution history.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mailroom.errors import VirusDetectedError
from mailroom.layout import staging_manifest_key, staging_part_key
from mailroom.manifests import put_bytes, put_manifest, read_bytes
from mailroom.mime import Attachment, Limits, ParsedEmail, parse_email
from mailroom.mime.content import DirectoryStore
from mailroom.models import Decrypted, Manifest, ManifestFile, ObjectRef, Parsed
from mailroom.ports import BlobStore, MailboxRegistry
from mailroom.routing import route


def parse(
    email: Decrypted,
    *,
    store: BlobStore,
    registry: MailboxRegistry,
    staging_bucket: str,
    domain: str,
    limits: Limits | None = None,
) -> Parsed:
    """Parse, refuse what must not be delivered (virus, no mailbox), and stage every file."""
    limits = limits or Limits()
    raw = read_bytes(store, email.mime.bucket, email.mime.key, limit=limits.max_message_bytes)
    with tempfile.TemporaryDirectory(prefix="mailroom-parse-") as workdir:
        parsed = parse_email(raw, limits=limits, store=DirectoryStore(Path(workdir)))
        del raw
        if parsed.verdicts.virus == "FAIL":
            raise VirusDetectedError("SES's virus scan gave the verdict FAIL")
        mailboxes = route(parsed, domain=domain, registry=registry)
        files = [_stage_attachment(store, staging_bucket, email.message_id, a) for a in parsed.attachments]
    text = _stage_body(store, staging_bucket, email.message_id, "text", parsed.text, "text/plain; charset=utf-8")
    html = _stage_body(store, staging_bucket, email.message_id, "html", parsed.html, "text/html; charset=utf-8")
    manifest = Manifest(
        message_id=email.message_id,
        received_at=email.received_at,
        header_message_id=parsed.message_id,
        subject=parsed.subject,
        date=parsed.date.isoformat() if parsed.date else None,
        senders=[addr for _, addr in parsed.from_],
        to=[addr for _, addr in parsed.to],
        cc=[addr for _, addr in parsed.cc],
        verdicts=_verdicts(parsed),
        defects=parsed.defects,
        original=email.mime,
        text=text,
        html=html,
        attachments=files,
        mailboxes=mailboxes,
    )
    ref = put_manifest(store, staging_bucket, staging_manifest_key(email.message_id), manifest)
    return Parsed(
        message_id=email.message_id,
        received_at=email.received_at,
        manifest=ref,
        mailboxes=len(mailboxes),
        attachments=len(files),
    )


def _stage_attachment(store: BlobStore, bucket: str, message_id: str, attachment: Attachment) -> ManifestFile:
    key = staging_part_key(message_id, str(attachment.index))
    if attachment.content is None:
        raise RuntimeError("the parser kept no content for an attachment")  # DirectoryStore always keeps it
    with attachment.content.open() as body:
        store.put_object(bucket, key, body, size=attachment.size, content_type=attachment.content_type)
    return ManifestFile(
        index=attachment.index,
        filename=attachment.filename,
        safe_filename=attachment.safe_filename,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
        inline=attachment.inline,
        content_id=attachment.content_id,
        nested_message=attachment.nested_message,
        location=ObjectRef(bucket=bucket, key=key, size=attachment.size, sha256=attachment.sha256),
    )


def _stage_body(
    store: BlobStore, bucket: str, message_id: str, name: str, body: str | None, content_type: str
) -> ObjectRef | None:
    if body is None:
        return None
    data = body.encode("utf-8", "surrogateescape")
    return put_bytes(store, bucket, staging_part_key(message_id, name), data, content_type=content_type)


def _verdicts(parsed: ParsedEmail) -> dict[str, str | None]:
    v = parsed.verdicts
    return {"spam": v.spam, "virus": v.virus, "spf": v.spf, "dkim": v.dkim, "dmarc": v.dmarc}
