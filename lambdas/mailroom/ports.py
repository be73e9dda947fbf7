"""The collaborators domain code depends on; adapters implement them, tests stub them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, ClassVar, Protocol

from mailroom.records import Record

if TYPE_CHECKING:
    from mailroom.envelope import Envelope
    from mailroom.models import Mailbox


class Readable(Protocol):
    """A binary stream read in bounded pieces (a file, ``BytesIO``, an S3 body)."""

    def read(self, size: int, /) -> bytes:
        """Return up to ``size`` bytes; ``b""`` only at the end."""
        ...


class ReadableStream(Readable, Protocol):
    """A ``Readable`` that holds a resource until closed."""

    def close(self) -> None:
        """Release the stream."""
        ...


class StoredObject(Record):
    """An object opened for reading: its body stream, user metadata and length in bytes."""

    _record_unprinted: ClassVar[frozenset[str]] = frozenset({"body"})
    body: ReadableStream
    metadata: Mapping[str, str]
    size: int

    def close(self) -> None:
        """Release the body stream."""
        self.body.close()

    def __enter__(self) -> StoredObject:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class BlobStore(Protocol):
    """Object storage: read one object as a stream, publish one whole."""

    def open_object(self, bucket: str, key: str) -> StoredObject:
        """Open ``bucket/key`` for streaming; the caller closes it."""
        ...

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
        """Publish ``size`` bytes read from ``body`` as ``bucket/key`` in one step."""
        ...


class KeyService(Protocol):
    """Envelope data keys, unwrapped by a key-management service under their context."""

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str]) -> bytes:
        """Unwrap a data key; the service refuses unless ``context`` is the one it was wrapped under."""
        ...


class Sink(Protocol):
    """Where plaintext goes: written piecewise, visible to anyone only after ``commit``."""

    def write(self, data: bytes, /) -> object:
        """Append ``data`` (not yet visible)."""
        ...

    def commit(self) -> None:
        """Publish everything written, once; the sink is finished afterwards."""
        ...

    def discard(self) -> None:
        """Drop everything written; safe to call more than once, or after a failed commit."""
        ...


class ObjectStore(BlobStore, Protocol):
    """A ``BlobStore`` that writes a key only while it does not exist (S3's conditional writes)."""

    def copy_if_absent(self, source_bucket: str, source_key: str, bucket: str, key: str) -> bool:
        """Copy one object server-side unless ``bucket/key`` exists; False: it did, nothing was written."""
        ...

    def put_if_absent(self, bucket: str, key: str, body: IO[bytes], *, size: int, content_type: str) -> bool:
        """Publish one object unless ``bucket/key`` exists; False: it did, nothing was written."""
        ...


class MailboxRegistry(Protocol):
    """Address → mailbox lookups."""

    def lookup(self, addresses: Sequence[str]) -> list[Mailbox]:
        """The registered mailboxes among ``addresses`` (lower-case), in the order given."""
        ...


class EnvelopeStore(Protocol):
    """The envelope recorded with an email's status, and what routing made of it."""

    def envelope(self, message_id: str) -> Envelope | None:
        """The email's envelope; ``None`` when no notification (nor an operator) ever stated one."""
        ...

    def note_unroutable_recipients(self, message_id: str, count: int) -> None:
        """How many envelope recipients are no registered mailbox (counted, never listed)."""
        ...


class InboxStore(Protocol):
    """Where delivered emails become items of a user's inbox."""

    def put_if_absent(self, item: Mapping[str, Any]) -> bool:
        """Write ``item`` unless one with its key exists; ``True`` when it was written now."""
        ...

    def claim(self, user: str, key: str, message_id: str) -> str:
        """Record ``message_id`` as the first email with ``key`` for ``user``; return whichever was first."""
        ...


class StatusStore(Protocol):
    """One record per email (by SES message id): received → delivered | quarantined | unroutable | failed."""

    def mark_received(
        self, message_id: str, *, received_at: str, execution_arn: str, envelope: Envelope, now: str
    ) -> bool:
        """Create the record with its envelope unless one exists (a duplicate keeps it); ``True`` if created."""
        ...

    def mark_delivered(self, message_id: str, *, items: int, now: str) -> None:
        """Record delivery."""
        ...

    def mark_duplicate(self, message_id: str, *, duplicate_of: str, now: str) -> None:
        """Record that every user had this email already (same Message-ID header, earlier SES message)."""
        ...

    def mark_failed(self, message_id: str, *, failure: Failure, now: str) -> bool:
        """Record a failed execution unless the email has an outcome already; ``True`` when recorded."""
        ...


class Failure(Record):
    """Where and why an execution failed (from its history)."""

    execution_arn: str
    status: str
    step: str | None
    error: str | None
    cause: str | None
    stopped_at: str


class ExecutionHistory(Protocol):
    """Reads what an execution did."""

    def failed_step(self, execution_arn: str) -> str | None:
        """The state the execution was in when it stopped (entered, never exited)."""
        ...


class Workflow(Protocol):
    """Starts one execution per email."""

    def execution_arn(self, name: str) -> str:
        """The ARN execution ``name`` has, or will have once started."""
        ...

    def start(self, name: str, payload: Mapping[str, Any]) -> tuple[str, bool]:
        """Start execution ``name``; ``(execution ARN, started now)`` — an existing one is not an error."""
        ...
