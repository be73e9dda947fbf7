"""Produce objects exactly as SES writes them to S3 with a KMS key (for tests and local mode)."""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from cryptography.hazmat.primitives.ciphers import AEADEncryptionContext, Cipher, algorithms, modes
from mailroom.ports import KeyService, Readable
from mailroom.sesformat import (
    DATA_KEY_BYTES,
    IV_BYTES,
    MESSAGE_ID_ALPHABET,
    MESSAGE_ID_LENGTH,
    EnvelopeMetadata,
    ses_material_description,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK_SIZE: Final = 1 << 20


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
    key_service: KeyService,
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
        metadata=envelope.to_s3_metadata(),
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
