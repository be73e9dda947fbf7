"""BlobStore on Amazon S3 (or anything that speaks its API)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import ClientError

from mailroom.adapters.aws_errors import error_code, translated_s3_errors
from mailroom.ports import StoredObject

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client


PRECONDITION_FAILED: Final = "PreconditionFailed"  # 412: a conditional write found the key there


class S3BlobStore:
    """Streams objects out of S3 and publishes whole objects with one PUT."""

    def __init__(self, client: S3Client | None = None) -> None:
        self._client: S3Client = client if client is not None else boto3.client("s3")

    def open_object(self, bucket: str, key: str) -> StoredObject:
        """GetObject as a stream; a missing object is ``SourceObjectMissingError``."""
        with translated_s3_errors(operation="GetObject", bucket=bucket, key=key, source=True):
            response = self._client.get_object(Bucket=bucket, Key=key)
        return StoredObject(
            body=_TranslatedBody(response["Body"], bucket=bucket, key=key),
            metadata=dict(response.get("Metadata", {})),
            size=response["ContentLength"],
        )

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
        """PutObject from a stream of known length (SES objects are at most 40 MB: one PUT)."""
        extra: dict[str, Any] = {}
        if content_type is not None:
            extra["ContentType"] = content_type
        if metadata:
            extra["Metadata"] = dict(metadata)
        with translated_s3_errors(operation="PutObject", bucket=bucket, key=key):
            self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentLength=size, **extra)

    def list_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, dt.datetime]]:
        """``(key, last modified)`` of every object under ``prefix`` (ListObjectsV2, 1,000 a page)."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            with translated_s3_errors(operation="ListObjectsV2", bucket=bucket, key=prefix):
                page = self._client.list_objects_v2(**kwargs)
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"]
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def copy_if_absent(self, source_bucket: str, source_key: str, bucket: str, key: str) -> bool:
        """CopyObject with ``If-None-Match: *``: S3 answers 412 when the key exists, and writes nothing.

        The check and the write are one request, so two runs of a step racing for one key write it
        once (S3 User Guide, "How to prevent object overwrites with conditional writes"; a 409
        ``ConditionalRequestConflict`` from a concurrent write is retryable). Objects here are at
        most 40 MB, far below the 5 GB single-copy limit.
        """
        with translated_s3_errors(operation="CopyObject", bucket=source_bucket, key=source_key, source=True):
            return _unless_present(
                lambda: self._client.copy_object(
                    Bucket=bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": source_key}, IfNoneMatch="*"
                )
            )

    def put_if_absent(self, bucket: str, key: str, body: IO[bytes], *, size: int, content_type: str) -> bool:
        """PutObject with ``If-None-Match: *`` (412: the key exists and is left as it is)."""
        with translated_s3_errors(operation="PutObject", bucket=bucket, key=key):
            return _unless_present(
                lambda: self._client.put_object(
                    Bucket=bucket, Key=key, Body=body, ContentLength=size, ContentType=content_type, IfNoneMatch="*"
                )
            )


def _unless_present(write: Callable[[], object]) -> bool:
    """Run a conditional write; False when S3 refused it because the key exists (nothing was written)."""
    try:
        write()
    except ClientError as exc:
        if error_code(exc) == PRECONDITION_FAILED:
            return False
        raise
    return True


class _TranslatedBody:
    """An S3 response body whose mid-stream transport failures are taxonomy errors too."""

    def __init__(self, body: StreamingBody, *, bucket: str, key: str) -> None:
        self._body = body
        self._bucket = bucket
        self._key = key

    def read(self, size: int, /) -> bytes:
        with translated_s3_errors(operation="GetObject (body)", bucket=self._bucket, key=self._key):
            return self._body.read(size)

    def close(self) -> None:
        self._body.close()
