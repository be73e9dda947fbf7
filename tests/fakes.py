"""In-memory fakes of ``mailroom.ports`` for the steps' unit tests: no AWS, no moto, no sockets.

Each fake keeps what it was given and honours its port's contract the way the adapter does (a
missing object is ``SourceObjectMissingError``, a put-if-absent writes once, KMS unwraps only under
the context it wrapped with). ``Journal`` records the calls whose order is the behaviour under test.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from mailroom.envelope import Envelope
from mailroom.errors import EncryptionContextMismatchError, SourceObjectMissingError
from mailroom.lifecycle import OUTCOMES
from mailroom.models import Mailbox
from mailroom.ports import Failure, StoredObject

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:m"


@dataclass
class Journal:
    """What the fakes sharing it were asked, in order."""

    calls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Blob:
    """One stored object."""

    data: bytes
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass
class MemoryStore:
    """An ``ObjectStore`` in a dict; ``writes`` lists every put and copy as ``(verb, bucket, key)``."""

    objects: dict[tuple[str, str], Blob] = field(default_factory=dict)
    writes: list[tuple[str, str, str]] = field(default_factory=list)
    opened: list[tuple[str, str]] = field(default_factory=list)

    def add(self, bucket: str, key: str, data: bytes, *, metadata: Mapping[str, str] | None = None) -> None:
        """Put an object there without journalling it (the test's own setup)."""
        self.objects[(bucket, key)] = Blob(data, metadata=dict(metadata or {}))

    def data(self, bucket: str, key: str) -> bytes:
        """One object's bytes."""
        return self.objects[(bucket, key)].data

    def keys(self, bucket: str) -> list[str]:
        """Every key in ``bucket``, sorted."""
        return sorted(key for b, key in self.objects if b == bucket)

    def open_object(self, bucket: str, key: str) -> StoredObject:
        self.opened.append((bucket, key))
        blob = self._get(bucket, key)
        return StoredObject(body=io.BytesIO(blob.data), metadata=dict(blob.metadata), size=len(blob.data))

    def put_object(
        self,
        bucket: str,
        key: str,
        body: IO[bytes],
        *,
        size: int,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        data = body.read()
        assert len(data) == size, f"put_object of {key} declared {size} bytes and sent {len(data)}"
        self.writes.append(("put", bucket, key))
        self.objects[(bucket, key)] = Blob(data, content_type, dict(metadata or {}))

    def copy_if_absent(self, source_bucket: str, source_key: str, bucket: str, key: str) -> bool:
        source = self._get(source_bucket, source_key)
        if (bucket, key) in self.objects:
            return False  # S3's 412 to If-None-Match: *
        self.writes.append(("copy", bucket, key))
        self.objects[(bucket, key)] = source
        return True

    def put_if_absent(self, bucket: str, key: str, body: IO[bytes], *, size: int, content_type: str) -> bool:
        if (bucket, key) in self.objects:
            return False
        self.put_object(bucket, key, body, size=size, content_type=content_type)
        return True

    def _get(self, bucket: str, key: str) -> Blob:
        try:
            return self.objects[(bucket, key)]
        except KeyError:
            raise SourceObjectMissingError(f"s3://{bucket}/{key} does not exist") from None


class MemoryKeys:
    """KMS in a dict: ``generate_data_key`` wraps a fresh key under a context, and only that context unwraps it.

    A refusal is ``EncryptionContextMismatchError``, as ``KmsKeyService`` translates KMS's
    ``InvalidCiphertextException``. Serves both sides: the producer (SES) and ``KeyService`` (Decrypt).
    """

    def __init__(self) -> None:
        self._wrapped: dict[bytes, tuple[bytes, dict[str, str]]] = {}
        self.unwrapped: list[dict[str, str]] = []

    def generate_data_key(self, key_id: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        key, blob = os.urandom(32), b"wrapped:" + os.urandom(16)
        self._wrapped[blob] = (key, dict(context))
        return key, blob

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str]) -> bytes:
        self.unwrapped.append(dict(context))
        key, wrapped_under = self._wrapped.get(ciphertext_blob, (b"", None))
        if wrapped_under != dict(context):
            raise EncryptionContextMismatchError("KMS refused to unwrap the data key (InvalidCiphertextException)")
        return key


@dataclass
class FakeWorkflow:
    """A ``Workflow``: starting a name twice is not an error, and keeps the first payload."""

    journal: Journal = field(default_factory=Journal)
    started: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def execution_arn(self, name: str) -> str:
        return f"{MACHINE}:{name}".replace(":stateMachine:", ":execution:")

    def start(self, name: str, payload: Mapping[str, Any]) -> tuple[str, bool]:
        self.journal.calls.append("start")
        new = name not in self.started
        self.started.setdefault(name, payload)
        return self.execution_arn(name), new


@dataclass
class FakeStatus:
    """The status records: a ``StatusStore`` and an ``EnvelopeStore``; an outcome is never overwritten."""

    journal: Journal = field(default_factory=Journal)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    unroutable: dict[str, int] = field(default_factory=dict)

    def mark_received(
        self, message_id: str, *, received_at: str, execution_arn: str, envelope: Envelope, now: str
    ) -> bool:
        self.journal.calls.append("mark_received")
        if message_id in self.records:
            return False
        self.records[message_id] = {"status": "received", "execution_arn": execution_arn, "envelope": envelope}
        return True

    def envelope(self, message_id: str) -> Envelope | None:
        record = self.records.get(message_id)
        return record.get("envelope") if record else None

    def note_unroutable_recipients(self, message_id: str, count: int) -> None:
        self.unroutable[message_id] = count

    def mark_delivered(self, message_id: str, *, items: int, now: str) -> None:
        self.journal.calls.append("mark_delivered")
        self.records.setdefault(message_id, {}).update(status="delivered", items=items, updated_at=now)

    def mark_duplicate(self, message_id: str, *, duplicate_of: str, now: str) -> None:
        self.journal.calls.append("mark_duplicate")
        self.records.setdefault(message_id, {}).update(status="duplicate", duplicate_of=duplicate_of, updated_at=now)

    def mark_failed(self, message_id: str, *, failure: Failure, now: str) -> bool:
        self.journal.calls.append("mark_failed")
        record = self.records.setdefault(message_id, {})
        if record.get("status") in OUTCOMES:
            return False
        record.update(status="failed", failure=failure, updated_at=now)
        return True


@dataclass
class Registry:
    """A ``MailboxRegistry`` of the mailboxes given."""

    mailboxes: dict[str, Mailbox] = field(default_factory=dict)

    @classmethod
    def of(cls, *mailboxes: Mailbox) -> Registry:
        """A registry holding ``mailboxes``."""
        return cls({m.address: m for m in mailboxes})

    def lookup(self, addresses: Sequence[str]) -> list[Mailbox]:
        return [self.mailboxes[a] for a in addresses if a in self.mailboxes]


@dataclass
class FakeInbox:
    """An ``InboxStore``: items keyed by (user, message id), dedup claims by (user, key); both write once."""

    journal: Journal = field(default_factory=Journal)
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    claims: dict[tuple[str, str], str] = field(default_factory=dict)

    def put_if_absent(self, item: Mapping[str, Any]) -> bool:
        self.journal.calls.append("put_if_absent")
        key = (str(item["user"]), str(item["message_id"]))
        if key in self.items:
            return False
        self.items[key] = dict(item)
        return True

    def claim(self, user: str, key: str, message_id: str) -> str:
        self.journal.calls.append("claim")
        return self.claims.setdefault((user, key), message_id)

    def of(self, user: str) -> list[dict[str, Any]]:
        """``user``'s items."""
        return [item for (u, _), item in sorted(self.items.items()) if u == user]
