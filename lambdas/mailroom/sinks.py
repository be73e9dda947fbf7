"""Sinks for plaintext that must stay unpublished until it has been verified."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import IO

from mailroom.ports import BlobStore

Publisher = Callable[[IO[bytes], int], None]


class TempFileSink:
    """Spools to an anonymous temporary file; ``publish(file, size)`` sees it only on ``commit``."""

    def __init__(self, publish: Publisher, *, directory: str | None = None) -> None:
        self._publish = publish
        self._file: IO[bytes] | None = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by commit/discard
        self.size = 0
        self.committed = False

    def write(self, data: bytes, /) -> int:
        """Append ``data`` to the spool file."""
        if self._file is None:
            raise ValueError("sink is finished")
        self._file.write(data)
        self.size += len(data)
        return len(data)

    def commit(self) -> None:
        """Hand the complete file to ``publish``, then delete it."""
        if self._file is None:
            raise ValueError("sink is finished")
        self._file.flush()
        self._file.seek(0)
        try:
            self._publish(self._file, self.size)
        finally:
            self._close()
        self.committed = True

    def discard(self) -> None:
        """Delete the spool file unpublished."""
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def blob_sink(
    store: BlobStore,
    bucket: str,
    key: str,
    *,
    content_type: str = "message/rfc822",
    directory: str | None = None,
) -> TempFileSink:
    """A sink that publishes to ``bucket/key`` in one put on commit, and writes nothing otherwise."""

    def publish(body: IO[bytes], size: int) -> None:
        store.put_object(bucket, key, body, size=size, content_type=content_type)

    return TempFileSink(publish, directory=directory)
