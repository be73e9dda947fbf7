"""Decrypt on fakes: SES's object → plaintext in staging, published only once everything verifies.

The objects are produced as SES writes them (``encrypt_for_ses``) with keys from an in-memory KMS
that unwraps only under the context it wrapped with; every refusal leaves staging empty.
"""

from __future__ import annotations

import hashlib
from typing import IO, Any

import pytest
from fakes import MemoryKeys, MemoryStore
from mailroom.errors import (
    EncryptionContextMismatchError,
    ForeignAccountError,
    MessageTooLargeError,
    SourceObjectMissingError,
    StorageUnavailableError,
    TamperedCiphertextError,
)
from mailroom.models import Decrypted, IncomingObject, ObjectRef
from mailroom.sesformat import MATDESC, TAG_BYTES
from mailroom.steps.decrypt import decrypt

from mailroom_cli.local.ses_producer import encrypt_for_ses

ACCOUNT = "123456789012"
MID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
OTHER = "5gq2n8lr1vkd7ce3tmu0o9bh4ps6ij2a8f1e5c3d"
RECEIVED_AT = "2026-11-27T08:15:04.112Z"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0b7a3b0c-3a5e-4b6e-9a8a-1d2c3b4a5f60"
MIME = b"From: scanner@corp.example\r\nSubject: Scan\r\n\r\n" + b"scanned page\r\n" * 2000
STAGED = f"mime/{MID}.eml"


def ses_writes(
    store: MemoryStore,
    keys: MemoryKeys,
    mime: bytes = MIME,
    *,
    message_id: str = MID,
    key: str | None = None,
    account_id: str = ACCOUNT,
) -> IncomingObject:
    """Put ``mime`` into the incoming bucket as SES does; the Starter's execution input for it."""
    encrypted = encrypt_for_ses(
        mime, key_service=keys, kms_key_id=KEY_ARN, message_id=message_id, rule_name="inbound", account_id=account_id
    )
    key = key or f"inbound/{message_id}"
    store.add("incoming", key, encrypted.body.read(), metadata=encrypted.metadata)
    return IncomingObject(message_id=key.rpartition("/")[2], bucket="incoming", key=key, received_at=RECEIVED_AT)


def run(email: IncomingObject, store: MemoryStore, keys: MemoryKeys, **overrides: Any) -> Decrypted:
    options: dict[str, Any] = {
        "staging_bucket": "staging",
        "account_id": ACCOUNT,
        "max_message_bytes": 1 << 20,
        "incoming_bucket": "incoming",
        **overrides,
    }
    return decrypt(email, store=store, keys=keys, **options)


def flip(store: MemoryStore, email: IncomingObject, at: int) -> None:
    blob = store.objects[(email.bucket, email.key)]
    data = bytearray(blob.data)
    data[at] ^= 0x01
    store.add(email.bucket, email.key, bytes(data), metadata=blob.metadata)


def test_the_plaintext_is_staged_under_the_message_id_with_its_size_and_digest() -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = ses_writes(store, keys)

    result = run(email, store, keys)

    assert result == Decrypted(
        message_id=MID,
        received_at=RECEIVED_AT,
        mime=ObjectRef(bucket="staging", key=STAGED, size=len(MIME), sha256=hashlib.sha256(MIME).hexdigest()),
    )
    assert store.data("staging", STAGED) == MIME
    assert store.objects[("staging", STAGED)].content_type == "message/rfc822"
    assert store.writes == [("put", "staging", STAGED)]  # one put: nothing visible before the tag checked
    assert [context["aws:ses:message-id"] for context in keys.unwrapped] == [MID]


def test_running_again_overwrites_the_same_staging_object_with_the_same_bytes() -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = ses_writes(store, keys)

    first, second = run(email, store, keys), run(email, store, keys)

    assert first == second
    assert store.keys("staging") == [STAGED]
    assert store.writes == [("put", "staging", STAGED)] * 2
    assert store.data("staging", STAGED) == MIME


@pytest.mark.parametrize(
    ("where", "at"),
    [("ciphertext", len(MIME) // 2), ("first byte", 0), ("tag", len(MIME) + 3)],
)
def test_a_flipped_bit_is_tampered_and_stages_nothing(where: str, at: int) -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = ses_writes(store, keys)
    flip(store, email, at)

    with pytest.raises(TamperedCiphertextError) as raised:
        run(email, store, keys)

    assert type(raised.value) is TamperedCiphertextError, where
    assert store.keys("staging") == []


def test_a_truncated_object_is_tampered_and_stages_nothing() -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = ses_writes(store, keys)
    blob = store.objects[("incoming", email.key)]
    store.add("incoming", email.key, blob.data[:-1], metadata=blob.metadata)

    with pytest.raises(TamperedCiphertextError) as raised:
        run(email, store, keys)

    assert type(raised.value) is TamperedCiphertextError
    assert store.keys("staging") == []


def test_a_missing_object_is_missing_and_stages_nothing() -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = IncomingObject(message_id=MID, bucket="incoming", key=f"inbound/{MID}", received_at=RECEIVED_AT)

    with pytest.raises(SourceObjectMissingError) as raised:
        run(email, store, keys)

    assert type(raised.value) is SourceObjectMissingError
    assert store.keys("staging") == []
    assert keys.unwrapped == []


def test_an_object_outside_the_incoming_bucket_is_never_opened() -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = ses_writes(store, keys)
    elsewhere = email.model_copy(update={"bucket": "someone-elses-bucket"})
    store.add("someone-elses-bucket", email.key, store.data("incoming", email.key))

    with pytest.raises(SourceObjectMissingError) as raised:
        run(elsewhere, store, keys)

    assert type(raised.value) is SourceObjectMissingError
    assert store.opened == []


def test_a_key_that_does_not_end_in_the_message_id_is_refused_before_it_is_opened() -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = ses_writes(store, keys)
    renamed = email.model_copy(update={"key": f"inbound/{OTHER}"})

    with pytest.raises(EncryptionContextMismatchError) as raised:
        run(renamed, store, keys)

    assert type(raised.value) is EncryptionContextMismatchError
    assert store.opened == []


def test_an_object_encrypted_for_another_message_is_refused() -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = ses_writes(store, keys, message_id=OTHER, key=f"inbound/{MID}")

    with pytest.raises(EncryptionContextMismatchError) as raised:
        run(email, store, keys)

    assert type(raised.value) is EncryptionContextMismatchError
    assert keys.unwrapped == []  # refused on the material description, before KMS is asked
    assert store.keys("staging") == []


def test_an_object_written_for_another_account_is_foreign() -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = ses_writes(store, keys, account_id="210987654321")

    with pytest.raises(ForeignAccountError) as raised:
        run(email, store, keys)

    assert type(raised.value) is ForeignAccountError
    assert keys.unwrapped == []
    assert store.keys("staging") == []


def test_a_material_description_edited_after_wrapping_is_refused_by_the_key_service() -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = ses_writes(store, keys)
    blob = store.objects[("incoming", email.key)]
    edited = {**blob.metadata, MATDESC: blob.metadata[MATDESC].replace('"inbound"', '"another-rule"')}
    assert edited != blob.metadata
    store.add("incoming", email.key, blob.data, metadata=edited)

    with pytest.raises(EncryptionContextMismatchError) as raised:
        run(email, store, keys)

    assert type(raised.value) is EncryptionContextMismatchError
    assert [context["aws:ses:rule-name"] for context in keys.unwrapped] == ["another-rule"]
    assert store.keys("staging") == []


@pytest.mark.parametrize(("limit", "accepted"), [(len(MIME), True), (len(MIME) - 1, False)])
def test_the_size_limit_counts_plaintext_and_an_oversize_object_is_never_decrypted(limit: int, accepted: bool) -> None:
    store, keys = MemoryStore(), MemoryKeys()
    email = ses_writes(store, keys)
    assert len(store.data("incoming", email.key)) == len(MIME) + TAG_BYTES

    if accepted:
        assert run(email, store, keys, max_message_bytes=limit).mime.size == len(MIME)
        return
    with pytest.raises(MessageTooLargeError) as raised:
        run(email, store, keys, max_message_bytes=limit)
    assert type(raised.value) is MessageTooLargeError
    assert keys.unwrapped == []
    assert store.keys("staging") == []


class UnavailableStaging(MemoryStore):
    """Staging refuses every put, as S3 does when it is down (the adapter's taxonomy error)."""

    def put_object(self, bucket: str, key: str, body: IO[bytes], **kwargs: Any) -> None:
        raise StorageUnavailableError(f"s3://{bucket}/{key}: SlowDown")


def test_a_staging_outage_surfaces_as_its_retryable_error_and_publishes_nothing() -> None:
    store, keys = UnavailableStaging(), MemoryKeys()
    email = ses_writes(store, keys)

    with pytest.raises(StorageUnavailableError) as raised:
        run(email, store, keys)

    assert type(raised.value) is StorageUnavailableError
    assert store.keys("staging") == []
