"""The error taxonomy: the contract between the Python code and the state machine's Retry/Catch.

The Lambda runtime reports ``errorType = type(exc).__name__`` and ASL ``ErrorEquals`` matches that
exact string, so every class raised is a *leaf* of one of two families:

- ``RetryableError``: the cause is outside the email (an AWS dependency throttled, unavailable or
  misconfigured). Every Task retries these with backoff; once the budget is spent the execution
  fails at that step, so it can be redriven from there after the cause is fixed.
- ``PermanentError``: the email itself is the cause (tampered, malformed, oversize, infected,
  unroutable). Retrying cannot help; the state machine catches these into a recorded outcome.

Families and the base class are never raised themselves (``leaf_errors`` lists what may be).
Messages carry identifiers and sizes only, never email content or key material.
"""

from __future__ import annotations

from typing import ClassVar


class MailroomError(Exception):
    """Base of every error mailroom raises on purpose."""

    reason: ClassVar[str] = "error"


class RetryableError(MailroomError):
    """A dependency failed; the same input may succeed later."""


class PermanentError(MailroomError):
    """The email cannot be processed as it is; retrying gives the same result."""


# --------------------------------------------------------------------------- retryable leaves


class StorageUnavailableError(RetryableError):
    """S3 throttled, timed out or answered 5xx."""

    reason = "storage_unavailable"


class KeyServiceUnavailableError(RetryableError):
    """KMS throttled, timed out, answered 5xx, or the key is disabled / pending import."""

    reason = "key_service_unavailable"


class DatabaseUnavailableError(RetryableError):
    """DynamoDB throttled, timed out or answered 5xx."""

    reason = "database_unavailable"


class WorkflowUnavailableError(RetryableError):
    """Step Functions throttled, timed out or answered 5xx."""

    reason = "workflow_unavailable"


class DependencyAccessDeniedError(RetryableError):
    """A policy refused us: an operator must fix permissions, then redrive (the email is not at fault)."""

    reason = "access_denied"


class ConfigurationError(RetryableError):
    """A function's settings are missing or invalid: an operator must fix the deployment, then redrive."""

    reason = "configuration"


# --------------------------------------------------------------------------- permanent leaves: decrypt


class SourceObjectMissingError(PermanentError):
    """The incoming object named by the event does not exist (deleted or never written)."""

    reason = "source_missing"


class EncryptionMetadataError(PermanentError):
    """Client-side-encryption metadata is missing or malformed on the incoming object."""

    reason = "bad_encryption_metadata"


class UnsupportedAlgorithmError(PermanentError):
    """The object is encrypted with a content or key-wrap algorithm we do not accept."""

    reason = "unsupported_algorithm"


class ForeignAccountError(PermanentError):
    """The material description names another AWS account as the source."""

    reason = "foreign_account"


class EncryptionContextMismatchError(PermanentError):
    """The material description disagrees with the object key, or KMS refused to unwrap under it."""

    reason = "encryption_context_mismatch"


class TamperedCiphertextError(PermanentError):
    """The AES-GCM tag does not verify, or the ciphertext length is impossible."""

    reason = "tampered_ciphertext"


# --------------------------------------------------------------------------- permanent leaves: parse


class MessageTooLargeError(PermanentError):
    """The raw message, or its decoded content, exceeds the configured size limit."""

    reason = "too_large"


class TooManyAttachmentsError(PermanentError):
    """The message carries more attachments (or MIME parts) than the configured limit."""

    reason = "too_many_attachments"


class NestingTooDeepError(PermanentError):
    """Multiparts or embedded messages nest deeper than the configured limit."""

    reason = "nesting_too_deep"


class DecompressionLimitError(PermanentError):
    """A compressed container (TNEF, x-gzip64) expands beyond the configured limit."""

    reason = "decompression_limit"


class HeaderLimitError(PermanentError):
    """The header section is larger, or holds more fields, than the configured limit."""

    reason = "header_limit"


class MalformedMessageError(PermanentError):
    """The input is not an email at all (empty, or no header field before the body)."""

    reason = "malformed"


# --------------------------------------------------------------------------- permanent leaves: routing, policy


class VirusDetectedError(PermanentError):
    """SES's virus scan gave the verdict FAIL: the email is quarantined, never delivered."""

    reason = "virus"


class NoKnownRecipientError(PermanentError):
    """None of the email's recipients in our domain is a registered mailbox: it ends Unroutable."""

    reason = "unroutable"


def leaf_errors() -> dict[str, type[MailroomError]]:
    """Every raisable error class by name (the strings ASL ``ErrorEquals`` may use)."""
    found: dict[str, type[MailroomError]] = {}
    pending: list[type[MailroomError]] = [MailroomError]
    while pending:
        cls = pending.pop()
        subs = cls.__subclasses__()
        if not subs and cls not in (MailroomError, RetryableError, PermanentError):
            found[cls.__name__] = cls
        pending.extend(subs)
    return found
