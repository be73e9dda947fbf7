"""Decrypting SES objects: known answers, round trips through moto KMS and S3, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import IO, Any

import boto3
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from mailroom.adapters.kms import KmsKeyService
from mailroom.adapters.s3 import S3BlobStore
from mailroom.crypto import DecryptedObject, decrypt_ses_object
from mailroom.errors import (
    EncryptionContextMismatchError,
    EncryptionMetadataError,
    ForeignAccountError,
    MailroomError,
    SourceObjectMissingError,
    StorageUnavailableError,
    TamperedCiphertextError,
    UnsupportedAlgorithmError,
)
from mailroom.sinks import TempFileSink, blob_sink
from moto import mock_aws

from mailroom_cli.local.ses_producer import KmsDataKeys, MemorySink, encrypt_for_ses, new_ses_message_id

ACCOUNT = "123456789012"  # moto's default account
INCOMING = "mailroom-incoming"
STAGING = "mailroom-staging"
PREFIX = "inbound/"
RULE = "inbound-rule"

# NIST GCM spec, test case 14 (AES-256): zero key, zero IV, one zero block.
KAT_KEY = bytes(32)
KAT_IV = bytes(12)
KAT_PLAINTEXT = bytes(16)
KAT_CIPHERTEXT = bytes.fromhex("cea7403d4d606b6e074ec5d3baf39d18")
KAT_TAG = bytes.fromhex("d0d1c8a799996bf0265b98b5d48ab919")
KAT_MESSAGE_ID = "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1"
KAT_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0b7a3b0c-3a5e-4b6e-9a8a-1d2c3b4a5f60"


class FixedKeyService:
    """Returns one fixed data key, after checking the context is exactly the expected one."""

    def __init__(self, key: bytes, *, blob: bytes, context: Mapping[str, str]) -> None:
        self.key, self.blob, self.context = key, blob, dict(context)
        self.calls = 0

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str]) -> bytes:
        self.calls += 1
        assert ciphertext_blob == self.blob
        assert dict(context) == self.context
        return self.key

    def generate_data_key(self, key_id: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        raise AssertionError("decrypting never generates keys")


class ShortReads(io.RawIOBase):
    """A stream that returns at most ``limit`` bytes per read, like a socket."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._data, self._pos, self._limit = data, 0, limit

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        size = self._limit if size < 0 else min(size, self._limit)
        piece = self._data[self._pos : self._pos + size]
        self._pos += len(piece)
        return piece


def hand_built_metadata(*, iv: bytes, blob: bytes, plaintext_length: int) -> dict[str, str]:
    """SES's metadata written out literally, independent of the producer and of sesformat."""
    return {
        "x-amz-key-v2": base64.b64encode(blob).decode(),
        "x-amz-iv": base64.b64encode(iv).decode(),
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-wrap-alg": "kms",
        "x-amz-tag-len": "128",
        "x-amz-matdesc": json.dumps(
            {
                "aws:ses:message-id": KAT_MESSAGE_ID,
                "aws:ses:rule-name": RULE,
                "aws:ses:source-account": ACCOUNT,
                "kms_cmk_id": KAT_KEY_ARN,
            }
        ),
        "x-amz-unencrypted-content-length": str(plaintext_length),
    }


KAT_CONTEXT = {
    "aws:ses:message-id": KAT_MESSAGE_ID,
    "aws:ses:rule-name": RULE,
    "aws:ses:source-account": ACCOUNT,
    "kms_cmk_id": KAT_KEY_ARN,
}


# --------------------------------------------------------------------------- independent vectors


def test_the_known_answer_vector_is_what_one_shot_aes_gcm_computes() -> None:
    assert AESGCM(KAT_KEY).encrypt(KAT_IV, KAT_PLAINTEXT, None) == KAT_CIPHERTEXT + KAT_TAG


@pytest.mark.parametrize("chunk_size", [1 << 20, 5, 1])
def test_decrypts_the_gcm_known_answer_assembled_by_hand(chunk_size: int) -> None:
    blob = b"kms-wrapped-zero-key"
    keys = FixedKeyService(KAT_KEY, blob=blob, context=KAT_CONTEXT)
    obj = KAT_CIPHERTEXT + KAT_TAG
    sink = MemorySink()

    result = decrypt_ses_object(
        io.BytesIO(obj),
        metadata=hand_built_metadata(iv=KAT_IV, blob=blob, plaintext_length=16),
        size=len(obj),
        keys=keys,
        sink=sink,
        expected_account=ACCOUNT,
        expected_message_id=KAT_MESSAGE_ID,
        chunk_size=chunk_size,
    )

    assert sink.value == KAT_PLAINTEXT
    assert result.size == 16
    assert result.sha256 == hashlib.sha256(KAT_PLAINTEXT).hexdigest()
    assert result.envelope.message_id == KAT_MESSAGE_ID
    assert keys.calls == 1


@pytest.mark.parametrize("read_limit", [None, 7777])
def test_decrypts_a_multi_chunk_object_built_with_one_shot_aes_gcm(read_limit: int | None) -> None:
    rng = random.Random(20240611)
    key, iv = rng.randbytes(32), rng.randbytes(12)
    plaintext = rng.randbytes(2 * (1 << 20) + 300_001)
    obj = AESGCM(key).encrypt(iv, plaintext, None)
    body = io.BytesIO(obj) if read_limit is None else ShortReads(obj, read_limit)
    sink = MemorySink()

    result = decrypt_ses_object(
        body,
        metadata=hand_built_metadata(iv=iv, blob=b"blob", plaintext_length=len(plaintext)),
        size=len(obj),
        keys=FixedKeyService(key, blob=b"blob", context=KAT_CONTEXT),
        sink=sink,
        expected_account=ACCOUNT,
        expected_message_id=KAT_MESSAGE_ID,
        chunk_size=(1 << 20) - 3,
    )

    assert sink.value == plaintext
    assert result.sha256 == hashlib.sha256(plaintext).hexdigest()
    assert result.size == len(plaintext)


def test_an_empty_message_is_just_a_tag() -> None:
    obj = AESGCM(KAT_KEY).encrypt(KAT_IV, b"", None)
    sink = MemorySink()

    result = decrypt_ses_object(
        io.BytesIO(obj),
        metadata=hand_built_metadata(iv=KAT_IV, blob=b"b", plaintext_length=0),
        size=16,
        keys=FixedKeyService(KAT_KEY, blob=b"b", context=KAT_CONTEXT),
        sink=sink,
        expected_account=ACCOUNT,
        expected_message_id=KAT_MESSAGE_ID,
    )

    assert (sink.value, result.size) == (b"", 0)


def kat_decrypt(obj: bytes, sink: MemorySink, **overrides: Any) -> DecryptedObject:
    arguments: dict[str, Any] = {
        "metadata": hand_built_metadata(iv=KAT_IV, blob=b"b", plaintext_length=16),
        "size": len(obj),
        "keys": FixedKeyService(KAT_KEY, blob=b"b", context=KAT_CONTEXT),
        "sink": sink,
        "expected_account": ACCOUNT,
        "expected_message_id": KAT_MESSAGE_ID,
    }
    arguments.update(overrides)
    return decrypt_ses_object(io.BytesIO(obj), **arguments)


@pytest.mark.parametrize(
    ("obj", "size"),
    [
        (KAT_CIPHERTEXT + KAT_TAG + b"x", 32),  # longer than S3 said
        ((KAT_CIPHERTEXT + KAT_TAG)[:-1], 32),  # shorter than S3 said
    ],
)
def test_a_stream_that_disagrees_with_the_reported_size_is_tampered(obj: bytes, size: int) -> None:
    sink = MemorySink()

    with pytest.raises(TamperedCiphertextError):
        kat_decrypt(obj, sink, size=size)

    assert sink.discarded
    assert sink.value is None


def test_an_unwrapped_key_that_is_not_256_bits_is_unsupported() -> None:
    sink = MemorySink()

    with pytest.raises(UnsupportedAlgorithmError, match="128 bits"):
        kat_decrypt(
            KAT_CIPHERTEXT + KAT_TAG,
            sink,
            keys=FixedKeyService(bytes(16), blob=b"b", context=KAT_CONTEXT),
        )

    assert sink.discarded


def test_a_misconfigured_account_fails_loudly_instead_of_quarantining() -> None:
    sink = MemorySink()

    with pytest.raises(ValueError, match="account"):
        kat_decrypt(KAT_CIPHERTEXT + KAT_TAG, sink, expected_account="")

    assert sink.discarded


def test_a_failing_publish_leaves_nothing_behind() -> None:
    published: list[int] = []

    def publish(body: IO[bytes], size: int) -> None:
        published.append(size)
        raise StorageUnavailableError("staging bucket throttled")

    sink = TempFileSink(publish)

    with pytest.raises(StorageUnavailableError):
        decrypt_ses_object(
            io.BytesIO(KAT_CIPHERTEXT + KAT_TAG),
            metadata=hand_built_metadata(iv=KAT_IV, blob=b"b", plaintext_length=16),
            size=32,
            keys=FixedKeyService(KAT_KEY, blob=b"b", context=KAT_CONTEXT),
            sink=sink,
            expected_account=ACCOUNT,
            expected_message_id=KAT_MESSAGE_ID,
        )

    assert published == [16]
    assert not sink.committed
    with pytest.raises(ValueError, match="finished"):
        sink.write(b"more")


# --------------------------------------------------------------------------- moto KMS + S3


@dataclass
class Aws:
    """Clients and the customer-managed key of one moto account; each test stages under its own prefix."""

    s3: Any
    kms: Any
    key_arn: str
    keys: KmsKeyService
    store: S3BlobStore
    staging_prefix: str = "raw/"

    def put_ses_object(
        self, plaintext: bytes, *, message_id: str | None = None, account_id: str = ACCOUNT
    ) -> tuple[str, bytes, dict[str, str]]:
        """Write ``plaintext`` to the incoming bucket exactly as SES would; return key, body, metadata."""
        message_id = message_id or new_ses_message_id()
        encrypted = encrypt_for_ses(
            plaintext,
            key_service=KmsDataKeys(self.kms),
            kms_key_id=self.key_arn,
            message_id=message_id,
            rule_name=RULE,
            account_id=account_id,
        )
        body = encrypted.body.read()
        assert len(body) == encrypted.content_length
        key = PREFIX + message_id
        self.s3.put_object(Bucket=INCOMING, Key=key, Body=body, Metadata=encrypted.metadata)
        return key, body, encrypted.metadata

    def put_raw(self, key: str, body: bytes, metadata: Mapping[str, str]) -> None:
        self.s3.put_object(Bucket=INCOMING, Key=key, Body=body, Metadata=dict(metadata))

    def decrypt(self, key: str, *, keys: KmsKeyService | None = None) -> DecryptedObject:
        """The decrypt step: incoming object → staging, keyed by message id."""
        message_id = key.rsplit("/", 1)[-1]
        with self.store.open_object(INCOMING, key) as obj:
            return decrypt_ses_object(
                obj.body,
                metadata=obj.metadata,
                size=obj.size,
                keys=keys or self.keys,
                sink=blob_sink(self.store, STAGING, self.staging_prefix + message_id),
                expected_account=ACCOUNT,
                expected_message_id=message_id,
            )

    def staged(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=STAGING, Prefix=self.staging_prefix)
        return [item["Key"] for item in listing.get("Contents", [])]


@pytest.fixture(scope="module")
def moto_account() -> Iterator[Aws]:
    # One mocked account per module: building clients and keys per test would dominate the run time.
    with mock_aws():
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
        )
        s3, kms = session.client("s3"), session.client("kms")
        for bucket in (INCOMING, STAGING):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        key_arn = kms.create_key(Description="mailroom SES key")["KeyMetadata"]["Arn"]
        yield Aws(s3=s3, kms=kms, key_arn=key_arn, keys=KmsKeyService(kms), store=S3BlobStore(s3))


@pytest.fixture
def aws(moto_account: Aws) -> Aws:
    return replace(moto_account, staging_prefix=f"raw/{uuid.uuid4()}/")


@pytest.mark.parametrize("size", [0, 1, 3 * (1 << 20) + 12_345])
def test_round_trip_through_kms_and_s3_publishes_the_plaintext(aws: Aws, size: int) -> None:
    plaintext = random.Random(size).randbytes(size)
    key, _, _ = aws.put_ses_object(plaintext)
    message_id = key.removeprefix(PREFIX)

    result = aws.decrypt(key)

    staged = aws.s3.get_object(Bucket=STAGING, Key=aws.staging_prefix + message_id)
    assert staged["Body"].read() == plaintext
    assert staged["ContentType"] == "message/rfc822"
    assert result.size == size
    assert result.sha256 == hashlib.sha256(plaintext).hexdigest()
    assert result.envelope.kms_cmk_id == aws.key_arn


def test_a_missing_source_object_is_permanent(aws: Aws) -> None:
    with pytest.raises(SourceObjectMissingError):
        aws.decrypt(PREFIX + new_ses_message_id())


def test_an_object_without_the_plaintext_length_header_decrypts_by_its_size(aws: Aws) -> None:
    # SES writes mail of 5 MB and more with a multipart upload; AWS does not say the header is there then.
    plaintext = random.Random(7).randbytes(5 * (1 << 20) + 3)
    key, body, metadata = aws.put_ses_object(plaintext)
    aws.put_raw(key, body, {k: v for k, v in metadata.items() if k != "x-amz-unencrypted-content-length"})

    result = aws.decrypt(key)

    assert result.size == len(plaintext)
    assert result.sha256 == hashlib.sha256(plaintext).hexdigest()


def test_without_the_length_header_a_truncated_object_is_still_tampered(aws: Aws) -> None:
    key, body, metadata = aws.put_ses_object(PLAINTEXT)
    aws.put_raw(key, body[:-1], {k: v for k, v in metadata.items() if k != "x-amz-unencrypted-content-length"})

    with pytest.raises(TamperedCiphertextError):
        aws.decrypt(key)
    assert aws.staged() == []


def test_decrypt_pinned_to_the_rules_key_succeeds(aws: Aws) -> None:
    key, _, _ = aws.put_ses_object(b"Subject: hi\r\n\r\nbody\r\n")

    result = aws.decrypt(key, keys=KmsKeyService(aws.kms, key_id=aws.key_arn))

    assert result.size == 21


def flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def with_matdesc(metadata: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, str]:
    matdesc = {**json.loads(metadata["x-amz-matdesc"]), **changes}
    return {**metadata, "x-amz-matdesc": json.dumps(matdesc)}


PLAINTEXT = b"From: scanner@example.com\r\nSubject: scan\r\n\r\n" + bytes(range(256)) * 40


def tampered_cases() -> list[Any]:
    """(name, how to damage (key, body, metadata), expected error)."""

    def body_first_byte(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, flip(body, 0), meta

    def body_tag_byte(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, flip(body, len(body) - 1), meta

    def truncated(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, body[:-1], meta

    def truncated_below_tag(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, body[:10], meta

    def length_lies(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        declared = int(meta["x-amz-unencrypted-content-length"]) - 1
        return key, body, {**meta, "x-amz-unencrypted-content-length": str(declared)}

    def no_iv(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, body, {k: v for k, v in meta.items() if k != "x-amz-iv"}

    def no_matdesc(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, body, {k: v for k, v in meta.items() if k != "x-amz-matdesc"}

    def garbled_key(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, body, {**meta, "x-amz-key-v2": "%%%"}

    def random_wrapped_key(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        blob = base64.b64encode(random.Random(1).randbytes(184)).decode()
        return key, body, {**meta, "x-amz-key-v2": blob}

    def cek_cbc(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, body, {**meta, "x-amz-cek-alg": "AES/CBC/PKCS5Padding"}

    def wrap_kms_context(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, body, {**meta, "x-amz-wrap-alg": "kms+context"}

    def tag_96(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, body, {**meta, "x-amz-tag-len": "96"}

    def under_another_id(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return PREFIX + new_ses_message_id(), body, meta

    def not_an_ses_key(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return PREFIX + "AMAZON_SES_SETUP_NOTIFICATION", body, meta

    def rule_renamed(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, body, with_matdesc(meta, {"aws:ses:rule-name": "other-rule"})

    def cmk_renamed(key: str, body: bytes, meta: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        return key, body, with_matdesc(meta, {"kms_cmk_id": "alias/something-else"})

    return [
        pytest.param(body_first_byte, TamperedCiphertextError, id="flipped-ciphertext-byte"),
        pytest.param(body_tag_byte, TamperedCiphertextError, id="flipped-tag-byte"),
        pytest.param(truncated, TamperedCiphertextError, id="truncated"),
        pytest.param(truncated_below_tag, TamperedCiphertextError, id="shorter-than-tag"),
        pytest.param(length_lies, TamperedCiphertextError, id="plaintext-length-mismatch"),
        pytest.param(no_iv, EncryptionMetadataError, id="iv-removed"),
        pytest.param(no_matdesc, EncryptionMetadataError, id="matdesc-removed"),
        pytest.param(garbled_key, EncryptionMetadataError, id="wrapped-key-garbled"),
        pytest.param(random_wrapped_key, EncryptionContextMismatchError, id="wrapped-key-random"),
        pytest.param(cek_cbc, UnsupportedAlgorithmError, id="cek-alg-cbc"),
        pytest.param(wrap_kms_context, UnsupportedAlgorithmError, id="wrap-alg-kms+context"),
        pytest.param(tag_96, UnsupportedAlgorithmError, id="tag-len-96"),
        pytest.param(under_another_id, EncryptionContextMismatchError, id="matdesc-id-is-not-the-key"),
        pytest.param(not_an_ses_key, EncryptionContextMismatchError, id="key-is-not-an-ses-id"),
        pytest.param(rule_renamed, EncryptionContextMismatchError, id="kms-refuses-changed-rule"),
        pytest.param(cmk_renamed, EncryptionContextMismatchError, id="kms-refuses-changed-key-id"),
    ]


@pytest.mark.parametrize(("damage", "error"), tampered_cases())
def test_a_damaged_object_raises_its_permanent_error_and_publishes_nothing(
    aws: Aws, damage: Any, error: type[MailroomError]
) -> None:
    key, body, metadata = aws.put_ses_object(PLAINTEXT)
    new_key, new_body, new_metadata = damage(key, body, metadata)
    aws.put_raw(new_key, new_body, new_metadata)

    with pytest.raises(error) as raised:
        aws.decrypt(new_key)

    assert raised.type.__name__ == error.__name__
    assert aws.staged() == []


def test_an_object_from_another_account_is_foreign(aws: Aws) -> None:
    key, _, _ = aws.put_ses_object(PLAINTEXT, account_id="999999999999")

    with pytest.raises(ForeignAccountError, match="999999999999"):
        aws.decrypt(key)

    assert aws.staged() == []


def test_a_material_description_swapped_in_from_another_object_is_refused_by_kms(aws: Aws) -> None:
    key_a, body_a, meta_a = aws.put_ses_object(PLAINTEXT)
    key_b, _, meta_b = aws.put_ses_object(b"the other message")
    # A's ciphertext and wrapped key, carrying B's (self-consistent) material description under B's key:
    # every local check passes, only KMS can tell that A's data key was not wrapped under B's context.
    aws.put_raw(key_b, body_a, {**meta_a, "x-amz-matdesc": meta_b["x-amz-matdesc"]})

    with pytest.raises(EncryptionContextMismatchError, match="tampered"):
        aws.decrypt(key_b)

    assert aws.staged() == []
    assert aws.decrypt(key_a).size == len(PLAINTEXT)


def test_sinks_refuse_use_after_they_are_finished() -> None:
    sink = MemorySink()
    sink.write(b"abc")
    sink.commit()
    sink.discard()

    assert sink.value == b"abc"
    assert not sink.discarded
    with pytest.raises(ValueError, match="finished"):
        sink.write(b"d")
