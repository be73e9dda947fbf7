"""BlobStore on Amazon S3 (or anything that speaks its API)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from mailroom.adapters.aws_errors import S3_MISSING_CODES, error_code, translated_s3_errors
from mailroom.ports import StoredObject

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client


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

    def exists(self, bucket: str, key: str) -> bool:
        """HeadObject; 404 is ``False`` (needs s3:ListBucket, or S3 answers 403 for a missing key)."""
        try:
            with translated_s3_errors(operation="HeadObject", bucket=bucket, key=key):
                self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in S3_MISSING_CODES:
                return False
            raise
        return True

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

    def copy_object(self, source_bucket: str, source_key: str, bucket: str, key: str) -> None:
        """CopyObject (objects here are at most 40 MB, far below the 5 GB single-copy limit)."""
        with translated_s3_errors(operation="CopyObject", bucket=source_bucket, key=source_key, source=True):
            self._client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": source_key})


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
