"""Inbox: one item per user the email is for, each written exactly once, then the email is delivered."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from mailroom.manifests import read_manifest
from mailroom.models import Archived, Delivered, Mailbox, Manifest, ManifestFile
from mailroom.ports import BlobStore, InboxStore, StatusStore

DEDUP_PREFIX: Final = "dup#"  # sort keys of dedup markers in the inbox table; never an SES id (those are [0-9a-v])
SUBJECT_LIMIT: Final = 998  # RFC 5322's line limit: plenty for a list view
# The sender and the Message-ID are shown as they came, but a header may hold 1 MB and an item only 400 KB.
HEADER_VALUE_LIMIT: Final = 998
ATTACHMENT_LIST_LIMIT: Final = 256 * 1024  # DynamoDB items stop at 400 KB; beyond this, the manifest has the list


def deliver(email: Archived, *, store: BlobStore, inbox: InboxStore, status: StatusStore, now: str) -> Delivered:
    """Write every inbox item (a conditional put: exactly once however often this runs), then mark delivered.

    A sender that retransmits (same ``Message-ID`` header, new SES message) reaches nobody twice: the
    first SES message to claim the header for a user owns it, later ones are duplicates for that user.
    """
    manifest = read_manifest(store, email.manifest)
    dedup = dedup_key(manifest)
    items = new = 0
    first_owner: str | None = None
    for mailbox in manifest.mailboxes:
        if dedup is not None:
            owner = inbox.claim(mailbox.user, dedup, email.message_id)
            if owner != email.message_id:
                first_owner = first_owner or owner
                continue
        items += 1
        new += inbox.put_if_absent(inbox_item(manifest, mailbox, email, now))
    if items == 0 and first_owner is not None:
        status.mark_duplicate(email.message_id, duplicate_of=first_owner, now=now)
        return Delivered(message_id=email.message_id, status="duplicate", items=0, new_items=0)
    status.mark_delivered(email.message_id, items=items, now=now)
    return Delivered(message_id=email.message_id, items=items, new_items=new)


def dedup_key(manifest: Manifest) -> str | None:
    """The inbox key marking this email as seen: its ``Message-ID``, sender and content (None: no Message-ID).

    A retransmission repeats all three. The Message-ID alone is chosen by whoever sends first: with
    sender and content digests in the key, a forged earlier email cannot make the real one a duplicate.
    """
    header = (manifest.header_message_id or "").strip()
    if not header.strip("<> "):
        return None
    content = [f.sha256 for f in manifest.attachments] + [b.sha256 for b in (manifest.text, manifest.html) if b]
    parts = [header.lower(), ",".join(s.lower() for s in manifest.senders), *sorted(content)]
    return DEDUP_PREFIX + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


def inbox_item(manifest: Manifest, mailbox: Mailbox, email: Archived, now: str) -> dict[str, Any]:
    """The inbox item of ``mailbox``'s user: what a list view shows, and where the files are."""
    files = [_file(f) for f in manifest.attachments]
    listed = len(json.dumps(files)) <= ATTACHMENT_LIST_LIMIT
    return {
        "user": mailbox.user,
        "message_id": manifest.message_id,
        "tenant": mailbox.tenant,
        "mailbox": mailbox.address,
        "subject": (manifest.subject or "")[:SUBJECT_LIMIT],
        "from": manifest.senders[0][:HEADER_VALUE_LIMIT] if manifest.senders else None,
        "header_message_id": (manifest.header_message_id or "")[:HEADER_VALUE_LIMIT] or None,
        "received_at": manifest.received_at,
        "delivered_at": now,
        "archive_bucket": email.manifest.bucket,
        "manifest_key": email.manifest.key,
        "text_key": manifest.text.key if manifest.text else None,
        "html_key": manifest.html.key if manifest.html else None,
        "attachment_count": len(files),
        "attachments": files if listed else None,
    }


def _file(f: ManifestFile) -> dict[str, Any]:
    return {
        "filename": f.filename,
        "safe_filename": f.safe_filename,
        "content_type": f.content_type,
        "size": f.size,
        "sha256": f.sha256,
        "inline": f.inline,
        "key": f.location.key,
    }
