"""Where decoded attachment bytes go while parsing: memory, a directory, or nowhere (digest only).

The parser hashes and counts every byte itself; a store only keeps them. Each keeps one copy.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol


class Content(Protocol):
    """Decoded bytes of one attachment, readable as a stream."""

    def open(self) -> BinaryIO:
        """A fresh binary stream over the bytes."""
        ...


class PartWriter(Protocol):
    """Receives one attachment's decoded bytes in order."""

    def write(self, data: bytes) -> object:
        """Append `data`."""
        ...

    def close(self) -> Content | None:
        """Finish; return how to read the bytes back (None when nothing is kept)."""
        ...


class ContentStore(Protocol):
    """Makes a writer for each attachment the parser finds."""

    def writer(self, index: int, safe_name: str) -> PartWriter:
        """A writer for attachment number `index` (0-based) named `safe_name`."""
        ...


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self._index = 0
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._index < len(self._chunks):
            chunk = self._chunks[self._index]
            if self._offset < len(chunk):
                n = min(len(buffer), len(chunk) - self._offset)
                buffer[:n] = chunk[self._offset : self._offset + n]
                self._offset += n
                return n
            self._index += 1
            self._offset = 0
        return 0


class MemoryContent:
    """Decoded bytes held in memory as the decoder produced them (no joined copy)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def open(self) -> BinaryIO:
        """A stream over the chunks."""
        return io.BufferedReader(_ChunkReader(self._chunks))

    def read_bytes(self) -> bytes:
        """All bytes at once (a copy)."""
        return b"".join(self._chunks)

    def chunks(self) -> Iterator[bytes]:
        """The bytes in the decoder's chunks."""
        return iter(self._chunks)


class _MemoryWriter:
    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> object:
        if data:
            self._chunks.append(data)
        return None

    def close(self) -> Content | None:
        return MemoryContent(self._chunks)


class MemoryStore:
    """Keep every attachment in memory."""

    def writer(self, index: int, safe_name: str) -> PartWriter:
        """A writer that keeps the chunks it receives."""
        return _MemoryWriter()


class FileContent:
    """Decoded bytes in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> BinaryIO:
        """The file, opened for reading."""
        return self.path.open("rb")


class _FileWriter:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._file = path.open("wb")

    def write(self, data: bytes) -> object:
        return self._file.write(data)

    def close(self) -> Content | None:
        self._file.close()
        return FileContent(self._path)


class DirectoryStore:
    """Write each attachment to `<directory>/<index>` (the safe name is metadata, not a path)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def writer(self, index: int, safe_name: str) -> PartWriter:
        """A writer to a file named by the attachment's index."""
        return _FileWriter(self.directory / f"{index:05d}")


class _DiscardWriter:
    def write(self, data: bytes) -> object:
        return None

    def close(self) -> Content | None:
        return None


class DigestOnlyStore:
    """Keep nothing: the parser still reports size and sha256 (for the CLI and corpus scoring)."""

    def writer(self, index: int, safe_name: str) -> PartWriter:
        """A writer that drops what it receives."""
        return _DiscardWriter()
