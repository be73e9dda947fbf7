"""botocore failures become the taxonomy's leaf errors, by exact class name, in the adapters."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.stub import Stubber
from mailroom.adapters.kms import KmsKeyService
from mailroom.adapters.s3 import S3BlobStore
from mailroom.crypto import decrypt_ses_object
from mailroom.errors import MailroomError, RetryableError

from mailroom_cli.local.ses_producer import KmsDataKeys, MemorySink

BLOB = b"\x01\x02wrapped-data-key\x03"
CONTEXT = {
    "aws:ses:message-id": "v" * 40,
    "aws:ses:rule-name": "inbound-rule",
    "aws:ses:source-account": "123456789012",
    "kms_cmk_id": "arn:aws:kms:eu-west-1:123456789012:key/k",
}


@pytest.fixture
def kms() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("kms", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def s3() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("s3", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, "KeyServiceUnavailableError"),
        ("Throttling", 400, "KeyServiceUnavailableError"),
        ("RequestLimitExceeded", 400, "KeyServiceUnavailableError"),
        ("TooManyRequestsException", 429, "KeyServiceUnavailableError"),
        ("KMSInternalException", 500, "KeyServiceUnavailableError"),
        ("DependencyTimeoutException", 503, "KeyServiceUnavailableError"),
        ("ServiceUnavailable", 503, "KeyServiceUnavailableError"),
        ("SomethingNew", 502, "KeyServiceUnavailableError"),
        ("DisabledException", 400, "KeyServiceUnavailableError"),
        ("KeyUnavailableException", 500, "KeyServiceUnavailableError"),
        ("NotFoundException", 400, "KeyServiceUnavailableError"),
        ("KMSInvalidStateException", 400, "KeyServiceUnavailableError"),
        ("AccessDeniedException", 400, "DependencyAccessDeniedError"),
        ("InvalidCiphertextException", 400, "EncryptionContextMismatchError"),
        ("IncorrectKeyException", 400, "EncryptionContextMismatchError"),
    ],
)
def test_kms_decrypt_errors_map_to_leaves(kms: tuple[Any, Stubber], code: str, status: int, expected: str) -> None:
    client, stubber = kms
    stubber.add_client_error("decrypt", service_error_code=code, http_status_code=status)

    with pytest.raises(MailroomError) as raised:
        KmsKeyService(client).decrypt_data_key(BLOB, CONTEXT)

    assert type(raised.value).__name__ == expected
    assert isinstance(raised.value.__cause__, ClientError)
    assert base64.b64encode(BLOB).decode() not in str(raised.value)


def test_kms_refusal_says_the_wrapped_key_may_be_tampered(kms: tuple[Any, Stubber]) -> None:
    client, stubber = kms
    stubber.add_client_error("decrypt", service_error_code="InvalidCiphertextException")

    with pytest.raises(Exception, match="tampered"):
        KmsKeyService(client).decrypt_data_key(BLOB, CONTEXT)


def test_an_unclassified_kms_error_is_left_as_it_is(kms: tuple[Any, Stubber]) -> None:
    client, stubber = kms
    stubber.add_client_error("decrypt", service_error_code="InvalidGrantTokenException")

    with pytest.raises(ClientError):
        KmsKeyService(client).decrypt_data_key(BLOB, CONTEXT)


def test_kms_decrypt_sends_the_whole_context_and_the_pinned_key(kms: tuple[Any, Stubber]) -> None:
    client, stubber = kms
    stubber.add_response(
        "decrypt",
        {"Plaintext": bytes(32), "KeyId": "k"},
        {"CiphertextBlob": BLOB, "EncryptionContext": CONTEXT, "KeyId": "arn:k"},
    )

    assert KmsKeyService(client, key_id="arn:k").decrypt_data_key(BLOB, CONTEXT) == bytes(32)


def test_generate_data_key_asks_for_aes_256_under_the_context(kms: tuple[Any, Stubber]) -> None:
    client, stubber = kms
    stubber.add_response(
        "generate_data_key",
        {"Plaintext": bytes(32), "CiphertextBlob": BLOB, "KeyId": "k"},
        {"KeyId": "arn:k", "KeySpec": "AES_256", "EncryptionContext": CONTEXT},
    )

    assert KmsDataKeys(client).generate_data_key("arn:k", CONTEXT) == (bytes(32), BLOB)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, "SourceObjectMissingError"),
        ("AccessDenied", 403, "DependencyAccessDeniedError"),
        ("SlowDown", 503, "StorageUnavailableError"),
        ("InternalError", 500, "StorageUnavailableError"),
        ("ServiceUnavailable", 503, "StorageUnavailableError"),
        ("RequestTimeout", 400, "StorageUnavailableError"),
    ],
)
def test_s3_get_errors_map_to_leaves(s3: tuple[Any, Stubber], code: str, status: int, expected: str) -> None:
    client, stubber = s3
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)

    with pytest.raises(MailroomError) as raised:
        S3BlobStore(client).open_object("incoming", "inbound/" + "v" * 40)

    assert type(raised.value).__name__ == expected
    assert "s3://incoming/inbound/" in str(raised.value)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AccessDenied", 403, "DependencyAccessDeniedError"),
        ("SlowDown", 503, "StorageUnavailableError"),
        # Unclassified: botocore's own (ClientError) class goes through, untouched.
        ("NoSuchBucket", 404, "NoSuchBucket"),
    ],
)
def test_s3_put_errors_map_to_leaves(s3: tuple[Any, Stubber], code: str, status: int, expected: str) -> None:
    client, stubber = s3
    stubber.add_client_error("put_object", service_error_code=code, http_status_code=status)

    with pytest.raises((MailroomError, ClientError)) as raised:
        S3BlobStore(client).put_object("staging", "raw/x", io.BytesIO(b"abc"), size=3)

    assert type(raised.value).__name__ == expected


def test_s3_put_sends_length_and_content_type(s3: tuple[Any, Stubber]) -> None:
    client, stubber = s3
    body = io.BytesIO(b"abc")
    stubber.add_response(
        "put_object",
        {},
        {"Bucket": "staging", "Key": "raw/x", "Body": body, "ContentLength": 3, "ContentType": "message/rfc822"},
    )

    S3BlobStore(client).put_object("staging", "raw/x", body, size=3, content_type="message/rfc822")


class FailingClient:
    """A client whose every call fails before any response arrives."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> Any:
            raise self.error

        return call


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com"), "StorageUnavailableError"),
        (ReadTimeoutError(endpoint_url="https://s3.eu-west-1.amazonaws.com"), "StorageUnavailableError"),
        (NoCredentialsError(), "DependencyAccessDeniedError"),
    ],
)
def test_s3_transport_failures_map_to_leaves(error: Exception, expected: str) -> None:
    with pytest.raises(RetryableError) as raised:
        S3BlobStore(FailingClient(error)).open_object("incoming", "inbound/x")  # type: ignore[arg-type]

    assert type(raised.value).__name__ == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (EndpointConnectionError(endpoint_url="https://kms.eu-west-1.amazonaws.com"), "KeyServiceUnavailableError"),
        (ReadTimeoutError(endpoint_url="https://kms.eu-west-1.amazonaws.com"), "KeyServiceUnavailableError"),
        (NoCredentialsError(), "DependencyAccessDeniedError"),
    ],
)
def test_kms_transport_failures_map_to_leaves(error: Exception, expected: str) -> None:
    with pytest.raises(RetryableError) as raised:
        KmsKeyService(FailingClient(error)).decrypt_data_key(BLOB, CONTEXT)  # type: ignore[arg-type]

    assert type(raised.value).__name__ == expected


class BrokenBody:
    """An S3 body that breaks after the first read, as a dropped connection does."""

    def __init__(self, error: Exception) -> None:
        self.error, self.reads = error, 0

    def read(self, size: int) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise self.error
        return b"\0" * size

    def close(self) -> None:
        pass


class OneObjectClient:
    def __init__(self, body: BrokenBody, metadata: dict[str, str], size: int) -> None:
        self.response = {"Body": body, "Metadata": metadata, "ContentLength": size}

    def get_object(self, **_: Any) -> dict[str, Any]:
        return self.response


class StaticKeys:
    def decrypt_data_key(self, ciphertext_blob: bytes, context: Any) -> bytes:
        return bytes(32)

    def generate_data_key(self, key_id: str, context: Any) -> tuple[bytes, bytes]:
        raise AssertionError


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="https://s3"),
        ResponseStreamingError(error="connection reset"),
        IncompleteReadError(actual_bytes=10, expected_bytes=20),
    ],
)
def test_a_body_that_breaks_mid_stream_is_retryable_and_publishes_nothing(error: Exception) -> None:
    size = 3 * 64 + 16
    metadata = {
        "x-amz-key-v2": base64.b64encode(BLOB).decode(),
        "x-amz-iv": base64.b64encode(bytes(12)).decode(),
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-wrap-alg": "kms",
        "x-amz-tag-len": "128",
        "x-amz-matdesc": '{"aws:ses:message-id":"' + "v" * 40 + '","aws:ses:rule-name":"r",'
        '"aws:ses:source-account":"123456789012","kms_cmk_id":"k"}',
        "x-amz-unencrypted-content-length": str(size - 16),
    }
    store = S3BlobStore(OneObjectClient(BrokenBody(error), metadata, size))  # type: ignore[arg-type]
    sink = MemorySink()

    with pytest.raises(RetryableError) as raised, store.open_object("incoming", "inbound/" + "v" * 40) as obj:
        decrypt_ses_object(
            obj.body,
            metadata=obj.metadata,
            size=obj.size,
            keys=StaticKeys(),
            sink=sink,
            expected_account="123456789012",
            expected_message_id="v" * 40,
            chunk_size=64,
        )

    assert type(raised.value).__name__ == "StorageUnavailableError"
    assert sink.discarded
