"""The one place where botocore errors become taxonomy errors.

An error not recognised here is re-raised unchanged: it is a fault nobody has classified yet, so
the execution fails at its step (and stays redrivable) rather than being guessed retryable or
permanent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)

from mailroom.errors import (
    DatabaseUnavailableError,
    DependencyAccessDeniedError,
    EncryptionContextMismatchError,
    KeyServiceUnavailableError,
    MailroomError,
    RetryableError,
    SourceObjectMissingError,
    StorageUnavailableError,
    WorkflowUnavailableError,
)

THROTTLING_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "SlowDown",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
    }
)
UNAVAILABLE_CODES: Final = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "RequestTimeout",
    }
)
ACCESS_DENIED_CODES: Final = frozenset({"AccessDenied", "AccessDeniedException", "403"})
KMS_KEY_UNUSABLE_CODES: Final = frozenset(
    {"DisabledException", "KeyUnavailableException", "NotFoundException", "KMSInvalidStateException"}
)
KMS_REFUSED_UNWRAP_CODES: Final = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
S3_MISSING_CODES: Final = frozenset({"NoSuchKey", "NotFound", "404"})

_TRANSPORT_ERRORS: Final = (ConnectionError, HTTPClientError, IncompleteReadError)
_CREDENTIAL_ERRORS: Final = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)


def error_code(exc: ClientError) -> str:
    """The service's error code (``"NoSuchKey"``, ``"ThrottlingException"``…), or ``""``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    """The HTTP status of the failed call, or 0 when unknown."""
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def s3_error(
    exc: BaseException, *, operation: str, bucket: str, key: str, source: bool = False
) -> MailroomError | None:
    """The taxonomy error for a failed S3 call; ``source`` marks reads of the incoming object."""
    where = f"S3 {operation} s3://{bucket}/{key}"
    if source and isinstance(exc, ClientError) and error_code(exc) in S3_MISSING_CODES:
        return SourceObjectMissingError(f"{where}: no such object ({error_code(exc)})")
    if isinstance(exc, ClientError) and _is_denied(exc):
        return DependencyAccessDeniedError(
            f"{where} was denied ({error_code(exc)}); fix the policy, then redrive "
            "(without s3:ListBucket a missing object also reads as denied)"
        )
    return _generic(exc, where, StorageUnavailableError)


def kms_error(exc: BaseException, *, operation: str, key_id: str | None = None) -> MailroomError | None:
    """The taxonomy error for a failed KMS call."""
    where = f"KMS {operation}" + (f" with {key_id}" if key_id else "")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in KMS_REFUSED_UNWRAP_CODES:
            return EncryptionContextMismatchError(
                f"{where} refused to unwrap the data key ({code}): the encryption context does not "
                "match the one it was wrapped under, or the wrapped key was tampered with"
            )
        if code in KMS_KEY_UNUSABLE_CODES:
            return KeyServiceUnavailableError(
                f"{where}: the key is not usable ({code}); enable or restore it, then redrive"
            )
        if _is_denied(exc):
            return DependencyAccessDeniedError(f"{where} was denied ({code}); fix the key policy, then redrive")
    return _generic(exc, where, KeyServiceUnavailableError)


def dynamodb_error(exc: BaseException, *, operation: str, table: str) -> MailroomError | None:
    """The taxonomy error for a failed DynamoDB call (a failed condition is not an error: callers handle it)."""
    where = f"DynamoDB {operation} on {table}"
    if isinstance(exc, ClientError) and _is_denied(exc):
        return DependencyAccessDeniedError(f"{where} was denied ({error_code(exc)}); fix the policy, then redrive")
    if isinstance(exc, ClientError) and error_code(exc) == "ResourceNotFoundException":
        return DatabaseUnavailableError(f"{where}: the table does not exist (ResourceNotFoundException)")
    return _generic(exc, where, DatabaseUnavailableError)


def workflow_error(exc: BaseException, *, operation: str) -> MailroomError | None:
    """The taxonomy error for a failed Step Functions call."""
    where = f"Step Functions {operation}"
    if isinstance(exc, ClientError) and _is_denied(exc):
        return DependencyAccessDeniedError(f"{where} was denied ({error_code(exc)}); fix the policy, then retry")
    return _generic(exc, where, WorkflowUnavailableError)


@contextmanager
def translated_dynamodb_errors(*, operation: str, table: str) -> Iterator[None]:
    """Raise taxonomy errors for DynamoDB failures inside the block."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        mapped = dynamodb_error(exc, operation=operation, table=table)
        if mapped is None:
            raise
        raise mapped from exc


@contextmanager
def translated_workflow_errors(*, operation: str) -> Iterator[None]:
    """Raise taxonomy errors for Step Functions failures inside the block."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        mapped = workflow_error(exc, operation=operation)
        if mapped is None:
            raise
        raise mapped from exc


@contextmanager
def translated_s3_errors(*, operation: str, bucket: str, key: str, source: bool = False) -> Iterator[None]:
    """Raise taxonomy errors for S3 failures inside the block."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        mapped = s3_error(exc, operation=operation, bucket=bucket, key=key, source=source)
        if mapped is None:
            raise
        raise mapped from exc


@contextmanager
def translated_kms_errors(*, operation: str, key_id: str | None = None) -> Iterator[None]:
    """Raise taxonomy errors for KMS failures inside the block."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        mapped = kms_error(exc, operation=operation, key_id=key_id)
        if mapped is None:
            raise
        raise mapped from exc


def _is_denied(exc: ClientError) -> bool:
    return error_code(exc) in ACCESS_DENIED_CODES


def _generic(exc: BaseException, where: str, unavailable: type[RetryableError]) -> MailroomError | None:
    if isinstance(exc, ClientError):
        code, status = error_code(exc), http_status(exc)
        if code in THROTTLING_CODES or status == 429:
            return unavailable(f"{where} was throttled ({code or status})")
        if code in UNAVAILABLE_CODES or status >= 500:
            return unavailable(f"{where} failed on the service side ({code or status}, HTTP {status})")
        return None
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return DependencyAccessDeniedError(f"{where}: no usable credentials ({type(exc).__name__})")
    if isinstance(exc, _TRANSPORT_ERRORS):
        return unavailable(f"{where} did not complete ({type(exc).__name__})")
    return None
