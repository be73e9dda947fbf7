"""Decrypt what SES writes to S3: unwrap the data key under the material description, then
stream AES-256-GCM into a sink that is published only once the tag verifies."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mailroom.errors import (
    EncryptionContextMismatchError,
    ForeignAccountError,
    TamperedCiphertextError,
    UnsupportedAlgorithmError,
)
from mailroom.ports import KeyService, Readable, Sink
from mailroom.records import Record
from mailroom.sesformat import DATA_KEY_BYTES, TAG_BYTES, EnvelopeMetadata, is_account_id, is_ses_message_id

CHUNK_SIZE: Final = 1 << 20


class DecryptedObject(Record):
    """What was published: plaintext length, its SHA-256 (hex) and the envelope it came in."""

    size: int
    sha256: str
    envelope: EnvelopeMetadata


def decrypt_ses_object(
    body: Readable,
    *,
    metadata: Mapping[str, str],
    size: int,
    keys: KeyService,
    sink: Sink,
    expected_account: str,
    expected_message_id: str,
    chunk_size: int = CHUNK_SIZE,
) -> DecryptedObject:
    """Decrypt one SES object of ``size`` bytes into ``sink``; commit it only if everything verifies."""
    committed = False
    try:
        if not is_account_id(expected_account):
            # A configuration fault, not the email's: failing loudly keeps every email redrivable
            # instead of quarantining all of them as foreign.
            raise ValueError("expected_account is not a 12-digit AWS account id")
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        envelope = EnvelopeMetadata.from_s3_metadata(metadata, object_size=size)
        _check_binding(envelope, expected_account, expected_message_id)
        _check_length(envelope, size)
        data_key = keys.decrypt_data_key(envelope.wrapped_key, envelope.encryption_context())
        if len(data_key) != DATA_KEY_BYTES:
            raise UnsupportedAlgorithmError(
                f"the unwrapped data key is {len(data_key) * 8} bits, expected {DATA_KEY_BYTES * 8}"
            )
        digest = _decrypt_into(body, data_key, envelope, sink, chunk_size)
        sink.commit()
        committed = True
    finally:
        if not committed:
            sink.discard()
    return DecryptedObject(size=envelope.plaintext_length, sha256=digest, envelope=envelope)


def _check_binding(envelope: EnvelopeMetadata, expected_account: str, expected_message_id: str) -> None:
    if envelope.source_account != expected_account:
        raise ForeignAccountError(f"material description names source account {envelope.source_account}, not ours")
    if not is_ses_message_id(expected_message_id):
        raise EncryptionContextMismatchError("the object key does not end in an SES message id")
    if envelope.message_id != expected_message_id:
        raise EncryptionContextMismatchError(
            f"material description names message {envelope.message_id}, the object key {expected_message_id}"
        )


def _check_length(envelope: EnvelopeMetadata, size: int) -> None:
    if size < TAG_BYTES:
        raise TamperedCiphertextError(f"object is {size} bytes, shorter than the {TAG_BYTES}-byte tag")
    if size != envelope.ciphertext_length:
        raise TamperedCiphertextError(
            f"object is {size} bytes but its metadata declares {envelope.plaintext_length} "
            f"of plaintext plus a {TAG_BYTES}-byte tag"
        )


def _decrypt_into(body: Readable, key: bytes, envelope: EnvelopeMetadata, sink: Sink, chunk_size: int) -> str:
    """Stream-decrypt; the tag is the object's last 16 bytes, located by the checked length.

    Hashing and writing run on a second thread: hashlib and file writes release the GIL while
    AES-GCM holds it, so on two cores the three overlap. At most `_PIPELINE_DEPTH` chunks wait.
    """
    decryptor = Cipher(algorithms.AES(key), modes.GCM(envelope.iv)).decryptor()
    with _HashingWriter(sink) as writer:
        remaining = envelope.plaintext_length
        while remaining > 0:
            chunk = body.read(min(chunk_size, remaining))
            if not chunk:
                raise TamperedCiphertextError(f"object ended {remaining + TAG_BYTES} bytes early")
            remaining -= len(chunk)
            writer.put(decryptor.update(chunk))
    tag = _read_exactly(body, TAG_BYTES)
    if len(tag) != TAG_BYTES or remaining < 0 or body.read(1):
        raise TamperedCiphertextError("object length differs from the length S3 reported")
    try:
        decryptor.finalize_with_tag(tag)
    except InvalidTag:
        raise TamperedCiphertextError("AES-GCM tag does not verify") from None
    return writer.hexdigest()


_PIPELINE_DEPTH = 4


class _HashingWriter:
    """Feeds plaintext chunks, in order, to sha256 and to the sink, each on a worker thread of its own."""

    def __init__(self, sink: Sink) -> None:
        self._digest = hashlib.sha256()
        self._workers = [_Worker(self._digest.update), _Worker(sink.write)]

    def __enter__(self) -> _HashingWriter:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for worker in self._workers:
            worker.stop(raise_error=exc_info[0] is None)

    def put(self, data: bytes) -> None:
        """Queue one chunk (blocks while a worker is `_PIPELINE_DEPTH` chunks behind)."""
        for worker in self._workers:
            worker.put(data)

    def hexdigest(self) -> str:
        """The sha256 of everything written (call after the with-block)."""
        return self._digest.hexdigest()


class _Worker:
    """One consumer on its own thread; its first error is re-raised on the caller's thread."""

    def __init__(self, consume: Callable[[bytes], object]) -> None:
        self._consume = consume
        self._queue: queue.Queue[bytes | None] = queue.Queue(_PIPELINE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="decrypt-consumer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def stop(self, *, raise_error: bool) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and raise_error:
            raise self._error

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._consume(data)
                except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                    self._error = exc


def _read_exactly(body: Readable, size: int) -> bytes:
    parts: list[bytes] = []
    wanted = size
    while wanted > 0:
        part = body.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)
