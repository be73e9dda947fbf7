"""Reading and writing manifests (and other small objects) through a ``BlobStore``."""

from __future__ import annotations

import hashlib
import io
from typing import Final

from mailroom.errors import MessageTooLargeError
from mailroom.models import Manifest, ObjectRef
from mailroom.ports import BlobStore, ObjectStore

READ_CHUNK: Final = 1 << 20
MANIFEST_LIMIT: Final = 64 << 20


def read_bytes(store: BlobStore, bucket: str, key: str, *, limit: int) -> bytes:
    """The whole object, refused with ``MessageTooLargeError`` above ``limit`` bytes."""
    with store.open_object(bucket, key) as obj:
        if obj.size > limit:
            raise MessageTooLargeError(f"the object is {obj.size} bytes; the limit is {limit}")
        buffer = bytearray()
        while chunk := obj.body.read(READ_CHUNK):
            buffer += chunk
    return bytes(buffer)


def _ref(bucket: str, key: str, data: bytes) -> ObjectRef:
    return ObjectRef(bucket=bucket, key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def _manifest_bytes(manifest: Manifest) -> bytes:
    """JSON, fields in model order: the same manifest is always the same bytes."""
    return manifest.model_dump_json().encode()


def put_bytes(store: BlobStore, bucket: str, key: str, data: bytes, *, content_type: str) -> ObjectRef:
    """Publish ``data`` and return a reference with its size and digest."""
    store.put_object(bucket, key, io.BytesIO(data), size=len(data), content_type=content_type)
    return _ref(bucket, key, data)


def put_manifest(store: BlobStore, bucket: str, key: str, manifest: Manifest) -> ObjectRef:
    """Publish ``manifest`` as JSON."""
    return put_bytes(store, bucket, key, _manifest_bytes(manifest), content_type="application/json")


def put_manifest_if_absent(store: ObjectStore, bucket: str, key: str, manifest: Manifest) -> ObjectRef:
    """Publish ``manifest`` unless the key exists; a reference to what is stored there either way."""
    data = _manifest_bytes(manifest)
    if store.put_if_absent(bucket, key, io.BytesIO(data), size=len(data), content_type="application/json"):
        return _ref(bucket, key, data)
    return existing_ref(store, bucket, key)


def read_manifest(store: BlobStore, ref: ObjectRef) -> Manifest:
    """Load a manifest written by ``put_manifest``."""
    return Manifest.model_validate_json(read_bytes(store, ref.bucket, ref.key, limit=MANIFEST_LIMIT))


def existing_ref(store: BlobStore, bucket: str, key: str) -> ObjectRef:
    """A reference (size and digest as stored) to an object that exists."""
    return _ref(bucket, key, read_bytes(store, bucket, key, limit=MANIFEST_LIMIT))
