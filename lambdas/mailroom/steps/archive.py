"""Archive: every file of the email from staging into the archive, each exactly once.

Archive keys derive from the message id and the content's SHA-256, and a key that exists is never
written again: every write is conditional (S3's ``If-None-Match: *``, checked by S3 in the same
request), so a retried, redriven or restarted Archive, even one racing a run that timed out but
still writes, adds no object version (and Object Lock, when on, is never asked to overwrite).
"""

from __future__ import annotations

from mailroom.layout import archive_blob_key, archive_manifest_key
from mailroom.manifests import put_manifest_if_absent, read_manifest
from mailroom.models import Archived, ObjectRef, Parsed
from mailroom.ports import ObjectStore


def archive(email: Parsed, *, store: ObjectStore, archive_bucket: str) -> Archived:
    """Copy the original, the bodies and the attachments, then publish the archived manifest last."""
    manifest = read_manifest(store, email.manifest)
    done: dict[str, ObjectRef] = {}

    def keep(ref: ObjectRef) -> ObjectRef:
        target = archive_blob_key(email.message_id, ref.sha256)
        if target not in done:
            store.copy_if_absent(ref.bucket, ref.key, archive_bucket, target)
            done[target] = ObjectRef(bucket=archive_bucket, key=target, size=ref.size, sha256=ref.sha256)
        return done[target]

    archived = manifest.model_copy(
        update={
            "original": keep(manifest.original),
            "text": keep(manifest.text) if manifest.text else None,
            "html": keep(manifest.html) if manifest.html else None,
            "attachments": [f.model_copy(update={"location": keep(f.location)}) for f in manifest.attachments],
        }
    )
    # The manifest goes last: its presence means every file it names is archived.
    ref = put_manifest_if_absent(store, archive_bucket, archive_manifest_key(email.message_id), archived)
    return Archived(message_id=email.message_id, received_at=email.received_at, manifest=ref)
