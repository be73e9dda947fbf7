"""Produce objects exactly as SES writes them to S3 with a KMS key (local mode, tests and benchmarks).

What only a *producer* of SES's format needs — fresh data keys, the material description, the S3
metadata written out — lives here, beside the emulator, not in the Lambda package, which only reads
the format (``mailroom.sesformat``, ``mailroom.crypto``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from cryptography.hazmat.primitives.ciphers import AEADEncryptionContext, Cipher, algorithms, modes
from mailroom.adapters.aws_errors import translated_kms_errors
from mailroom.ports import Readable
from mailroom.sesformat import (
    CEK_AES_GCM,
    CEK_ALG,
    DATA_KEY_BYTES,
    IV,
    IV_BYTES,
    KEY_V2,
    MATDESC,
    MATDESC_CMK_ID,
    MATDESC_MESSAGE_ID,
    MATDESC_RULE_NAME,
    MATDESC_SOURCE_ACCOUNT,
    MESSAGE_ID_ALPHABET,
    MESSAGE_ID_LENGTH,
    TAG_BITS,
    TAG_LEN,
    UNENCRYPTED_LENGTH,
    WRAP_ALG,
    WRAP_KMS,
    EnvelopeMetadata,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from mypy_boto3_kms import KMSClient

CHUNK_SIZE: Final = 1 << 20


class DataKeys(Protocol):
    """Fresh envelope data keys, as SES's S3 action asks KMS for them."""

    def generate_data_key(self, key_id: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        """A fresh 256-bit data key under ``key_id``: ``(plaintext key, wrapped blob)``."""
        ...


class KmsDataKeys:
    """``DataKeys`` from KMS GenerateDataKey (the emulated SES's side of the format)."""

    def __init__(self, client: KMSClient) -> None:
        self._client = client

    def generate_data_key(self, key_id: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        """A fresh AES-256 data key under ``key_id``: ``(plaintext key, wrapped blob)``."""
        with translated_kms_errors(operation="GenerateDataKey", key_id=key_id):
            response = self._client.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=dict(context))
        return response["Plaintext"], response["CiphertextBlob"]


def ses_material_description(*, message_id: str, rule_name: str, account_id: str, kms_key_id: str) -> dict[str, str]:
    """The material description SES writes, which is also the KMS encryption context."""
    return {
        MATDESC_MESSAGE_ID: message_id,
        MATDESC_RULE_NAME: rule_name,
        MATDESC_SOURCE_ACCOUNT: account_id,
        MATDESC_CMK_ID: kms_key_id,
    }


def s3_metadata(envelope: EnvelopeMetadata) -> dict[str, str]:
    """The S3 user metadata exactly as SES writes it for ``envelope``."""
    return {
        KEY_V2: base64.b64encode(envelope.wrapped_key).decode("ascii"),
        IV: base64.b64encode(envelope.iv).decode("ascii"),
        CEK_ALG: CEK_AES_GCM,
        WRAP_ALG: WRAP_KMS,
        TAG_LEN: str(TAG_BITS),
        MATDESC: json.dumps(dict(envelope.material_description), separators=(",", ":")),
        UNENCRYPTED_LENGTH: str(envelope.plaintext_length),
    }


class MemorySink:
    """Collects plaintext in memory; ``value`` is set only by ``commit`` (tests, small objects)."""

    def __init__(self) -> None:
        self._buffer: bytearray | None = bytearray()
        self.value: bytes | None = None
        self.discarded = False

    def write(self, data: bytes, /) -> int:
        """Append ``data``."""
        if self._buffer is None:
            raise ValueError("sink is finished")
        self._buffer += data
        return len(data)

    def commit(self) -> None:
        """Make the collected bytes visible as ``value``."""
        if self._buffer is None:
            raise ValueError("sink is finished")
        self.value = bytes(self._buffer)
        self._buffer = None

    def discard(self) -> None:
        """Drop the collected bytes; a no-op after ``commit``."""
        if self.value is None:
            self._buffer = None
            self.discarded = True


def new_ses_message_id() -> str:
    """A random id shaped like the ones SES gives received mail (40 characters of ``[0-9a-v]``)."""
    return "".join(secrets.choice(MESSAGE_ID_ALPHABET) for _ in range(MESSAGE_ID_LENGTH))


@dataclass(frozen=True)
class SesObject:
    """An encrypted object ready for PutObject: ``body`` yields ``content_length`` bytes once."""

    body: io.BufferedReader = field(repr=False)
    content_length: int
    metadata: dict[str, str]


def encrypt_for_ses(
    plaintext: bytes | Readable,
    *,
    key_service: DataKeys,
    kms_key_id: str,
    message_id: str,
    rule_name: str,
    account_id: str,
    plaintext_length: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> SesObject:
    """Encrypt like an SES receipt rule's S3 action; a stream is encrypted lazily as ``body`` is read.

    A stream's length goes into the metadata before any of it is read, so it must be given as
    ``plaintext_length`` unless the stream is seekable.
    """
    source: Readable
    if isinstance(plaintext, bytes | bytearray | memoryview):
        source = io.BytesIO(plaintext)
        length = len(plaintext)
    else:
        source = plaintext
        length = plaintext_length if plaintext_length is not None else _remaining_length(plaintext)
    if length < 0 or chunk_size <= 0:
        raise ValueError("plaintext_length must be >= 0 and chunk_size > 0")
    matdesc = ses_material_description(
        message_id=message_id, rule_name=rule_name, account_id=account_id, kms_key_id=kms_key_id
    )
    data_key, wrapped_key = key_service.generate_data_key(kms_key_id, matdesc)
    if len(data_key) != DATA_KEY_BYTES:
        raise ValueError(f"key service returned a {len(data_key) * 8}-bit data key, SES uses 256")
    iv = os.urandom(IV_BYTES)
    envelope = EnvelopeMetadata(wrapped_key=wrapped_key, iv=iv, material_description=matdesc, plaintext_length=length)
    encryptor = Cipher(algorithms.AES(data_key), modes.GCM(iv)).encryptor()
    raw = _EncryptingReader(source, encryptor, length, chunk_size)
    return SesObject(
        body=io.BufferedReader(raw, buffer_size=chunk_size),
        content_length=envelope.ciphertext_length,
        metadata=s3_metadata(envelope),
    )


def _remaining_length(stream: Readable) -> int:
    if not (isinstance(stream, io.IOBase) and stream.seekable()):
        raise ValueError("plaintext_length is required for a stream that cannot seek")
    here = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(here)
    return end - here


class _EncryptingReader(io.RawIOBase):
    """Reads ``length`` plaintext bytes from ``source`` piecewise and yields ciphertext, then the tag."""

    def __init__(self, source: Readable, encryptor: AEADEncryptionContext, length: int, chunk_size: int) -> None:
        super().__init__()
        self._source = source
        self._encryptor = encryptor
        self._remaining = length
        self._chunk_size = chunk_size
        self._pending = memoryview(b"")
        self._finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        target = memoryview(buffer).cast("B")
        while not self._pending:
            if self._finished:
                return 0
            self._pending = memoryview(self._next_piece())
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _next_piece(self) -> bytes:
        if self._remaining > 0:
            chunk = self._source.read(min(self._chunk_size, self._remaining))
            if not chunk:
                # The metadata already promised the length: a short object would be undecryptable.
                raise ValueError(f"plaintext ended {self._remaining} bytes before the declared length")
            self._remaining -= len(chunk)
            return self._encryptor.update(chunk)
        if self._remaining < 0 or self._source.read(1):
            raise ValueError("plaintext is longer than the declared length")
        self._encryptor.finalize()
        self._finished = True
        return self._encryptor.tag
