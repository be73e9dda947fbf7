"""Decrypt: one SES-encrypted object into staging; nothing is published before the GCM tag checks."""

from __future__ import annotations

from mailroom.crypto import decrypt_ses_object
from mailroom.errors import EncryptionContextMismatchError, MessageTooLargeError, SourceObjectMissingError
from mailroom.layout import staging_mime_key
from mailroom.models import Decrypted, IncomingObject, ObjectRef
from mailroom.ports import BlobStore, KeyService
from mailroom.sesformat import TAG_BYTES
from mailroom.sinks import blob_sink


def decrypt(
    email: IncomingObject,
    *,
    store: BlobStore,
    keys: KeyService,
    staging_bucket: str,
    account_id: str,
    max_message_bytes: int,
    incoming_bucket: str | None = None,
) -> Decrypted:
    """Decrypt ``email`` into ``staging_bucket``; the key names the SES message id, so a retry overwrites."""
    if incoming_bucket is not None and email.bucket != incoming_bucket:
        raise SourceObjectMissingError(f"s3://{email.bucket}/{email.key} is not in the incoming bucket")
    if email.key.rpartition("/")[2] != email.message_id:
        raise EncryptionContextMismatchError("the object key does not end with the execution's SES message id")
    key = staging_mime_key(email.message_id)
    with store.open_object(email.bucket, email.key) as obj:
        if obj.size > max_message_bytes + TAG_BYTES:
            raise MessageTooLargeError(
                f"the encrypted object is {obj.size} bytes; at most {max_message_bytes} of plaintext are accepted"
            )
        result = decrypt_ses_object(
            obj.body,
            metadata=obj.metadata,
            size=obj.size,
            keys=keys,
            sink=blob_sink(store, staging_bucket, key),
            expected_account=account_id,
            expected_message_id=email.message_id,
        )
    return Decrypted(
        message_id=email.message_id,
        received_at=email.received_at,
        mime=ObjectRef(bucket=staging_bucket, key=key, size=result.size, sha256=result.sha256),
    )
