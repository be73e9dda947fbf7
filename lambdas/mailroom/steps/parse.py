"""Parse: the plaintext MIME in staging → attachments and bodies in staging, plus one manifest.

The state's output is a pointer to the manifest and two counts: the email's headers and file list
never enter the execution history. Who the email is for comes from its envelope on the status
record (SES's notification), never from its headers; so do SES's verdicts, with the X-SES headers
standing in only where no notification gave them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mailroom.errors import NoKnownRecipientError, VirusDetectedError
from mailroom.layout import staging_manifest_key, staging_part_key
from mailroom.manifests import put_bytes, put_manifest, read_bytes
from mailroom.mime import Attachment, Limits, parse_email
from mailroom.mime.content import DirectoryStore
from mailroom.models import Decrypted, Manifest, ManifestFile, ObjectRef, Parsed
from mailroom.ports import BlobStore, EnvelopeStore, MailboxRegistry
from mailroom.routing import route


def parse(
    email: Decrypted,
    *,
    store: BlobStore,
    registry: MailboxRegistry,
    envelopes: EnvelopeStore,
    staging_bucket: str,
    domain: str,
    limits: Limits | None = None,
) -> Parsed:
    """Parse, refuse what must not be delivered (virus, no mailbox), and stage every file."""
    limits = limits or Limits()
    envelope = envelopes.envelope(email.message_id)
    if envelope is None:
        raise NoKnownRecipientError(
            "no envelope is recorded for this email (SES's notification never came): "
            "an operator can route it with `mailroom replay ID --to ADDRESS`"
        )
    raw = read_bytes(store, email.mime.bucket, email.mime.key, limit=limits.max_message_bytes)
    with tempfile.TemporaryDirectory(prefix="mailroom-parse-") as workdir:
        parsed = parse_email(raw, limits=limits, store=DirectoryStore(Path(workdir)))
        del raw
        verdicts = envelope.verdicts or parsed.verdicts  # the X-SES headers only where no notification said
        if verdicts.virus == "FAIL":
            raise VirusDetectedError("SES's virus scan gave the verdict FAIL")
        routing = route(envelope.recipients, domain=domain, registry=registry)
        if routing.unroutable:
            envelopes.note_unroutable_recipients(email.message_id, routing.unroutable)
        if not routing.mailboxes:
            raise NoKnownRecipientError(
                f"none of the {len(envelope.recipients)} envelope recipient(s) is a registered mailbox in {domain}"
            )
        mailboxes = routing.mailboxes
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
        verdicts=verdicts.as_dict(),
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
