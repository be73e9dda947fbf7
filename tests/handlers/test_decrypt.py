"""Decrypt: SES's encrypted object → plaintext MIME in staging, published only once everything verifies."""

from __future__ import annotations

from typing import Any

import pytest
from mail_factory import pdf_bytes, scanner_mail
from mailroom.handlers import decrypt
from moto_stack import (
    DOMAIN,
    INCOMING,
    PREFIX,
    STAGING,
    Configure,
    FakeLambdaContext,
    Stack,
    lambda_error,
    load_event,
    ses_received,
    sha256,
)

MESSAGE_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
OTHER_ID = "5gq2n8lr1vkd7ce3tmu0o9bh4ps6ij2a8f1e5c3d"


@pytest.fixture(scope="module")
def mime() -> bytes:
    mail = scanner_mail([("scan-0001.pdf", pdf_bytes(40_000))], to=f"inbox-7@{DOMAIN}")
    return ses_received(mail, envelope_to=f"inbox-7@{DOMAIN}")


def raised_name(event: dict[str, Any], context: FakeLambdaContext) -> str:
    return lambda_error(decrypt.handler, event, context)[0]


def test_the_plaintext_is_staged_under_the_message_id_with_its_size_and_digest(
    stack: Stack, context: FakeLambdaContext, mime: bytes
) -> None:
    stack.put_ses_object(mime, MESSAGE_ID)

    result = decrypt.handler(load_event("state_decrypt_input.json"), context)

    assert result == {
        "message_id": MESSAGE_ID,
        "received_at": "2026-11-27T08:15:04.112Z",
        "mime": {"bucket": STAGING, "key": f"mime/{MESSAGE_ID}.eml", "size": len(mime), "sha256": sha256(mime)},
    }
    assert stack.read(STAGING, f"mime/{MESSAGE_ID}.eml") == mime
    # Pointers only: nothing of the email enters the execution history.
    assert b"Scan from MFP-4020" not in repr(result).encode()


def test_running_twice_overwrites_the_same_staging_object(
    stack: Stack, context: FakeLambdaContext, mime: bytes
) -> None:
    event = stack.put_ses_object(mime, MESSAGE_ID)

    first = decrypt.handler(event, context)
    second = decrypt.handler(event, context)

    assert first == second
    assert stack.keys(STAGING) == [f"mime/{MESSAGE_ID}.eml"]


def test_a_flipped_ciphertext_bit_is_tampered_and_stages_nothing(
    stack: Stack, context: FakeLambdaContext, mime: bytes
) -> None:
    event = stack.put_ses_object(mime, MESSAGE_ID, corrupt_at=len(mime) // 2)

    assert raised_name(event, context) == "TamperedCiphertextError"
    assert stack.keys(STAGING) == []


def test_a_flipped_tag_bit_is_tampered_and_stages_nothing(
    stack: Stack, context: FakeLambdaContext, mime: bytes
) -> None:
    event = stack.put_ses_object(mime, MESSAGE_ID, corrupt_at=len(mime) + 3)

    assert raised_name(event, context) == "TamperedCiphertextError"
    assert stack.keys(STAGING) == []


def test_an_object_written_for_another_account_is_foreign(
    stack: Stack, context: FakeLambdaContext, mime: bytes
) -> None:
    event = stack.put_ses_object(mime, MESSAGE_ID, account_id="210987654321")

    assert raised_name(event, context) == "ForeignAccountError"
    assert stack.keys(STAGING) == []


def test_an_object_whose_material_description_names_another_message_is_refused(
    stack: Stack, context: FakeLambdaContext, mime: bytes
) -> None:
    event = stack.put_ses_object(mime, OTHER_ID, key=PREFIX + MESSAGE_ID)

    assert raised_name(event, context) == "EncryptionContextMismatchError"
    assert stack.keys(STAGING) == []


def test_a_material_description_edited_after_wrapping_is_refused_by_kms(
    stack: Stack, context: FakeLambdaContext, mime: bytes
) -> None:
    event = stack.put_ses_object(mime, MESSAGE_ID)
    head = stack.s3.head_object(Bucket=INCOMING, Key=event["key"])
    metadata = dict(head["Metadata"])
    metadata["x-amz-matdesc"] = metadata["x-amz-matdesc"].replace("mailroom-dev-inbound", "another-rule")
    stack.s3.copy_object(
        Bucket=INCOMING,
        Key=event["key"],
        CopySource={"Bucket": INCOMING, "Key": event["key"]},
        Metadata=metadata,
        MetadataDirective="REPLACE",
    )

    assert raised_name(event, context) == "EncryptionContextMismatchError"
    assert stack.keys(STAGING) == []


def test_an_execution_input_naming_another_message_than_its_object_key_is_refused(
    stack: Stack, context: FakeLambdaContext, mime: bytes
) -> None:
    event = {**stack.put_ses_object(mime, MESSAGE_ID), "message_id": OTHER_ID}

    assert raised_name(event, context) == "EncryptionContextMismatchError"
    assert stack.keys(STAGING) == []


def test_an_execution_input_naming_another_bucket_is_refused_before_reading_it(
    stack: Stack, context: FakeLambdaContext, mime: bytes
) -> None:
    event = {**stack.put_ses_object(mime, MESSAGE_ID), "bucket": "someone-elses-bucket"}

    assert raised_name(event, context) == "SourceObjectMissingError"
    assert stack.keys(STAGING) == []


def test_an_object_without_encryption_metadata_is_refused(stack: Stack, context: FakeLambdaContext) -> None:
    stack.s3.put_object(Bucket=INCOMING, Key=PREFIX + MESSAGE_ID, Body=b"From: a@b\r\n\r\nplain")

    assert raised_name(load_event("state_decrypt_input.json"), context) == "EncryptionMetadataError"


def test_an_object_above_the_configured_limit_is_too_large(
    stack: Stack, context: FakeLambdaContext, configure: Configure, mime: bytes
) -> None:
    configure(MAX_MESSAGE_BYTES=str(len(mime) - 1))
    event = stack.put_ses_object(mime, MESSAGE_ID)

    assert raised_name(event, context) == "MessageTooLargeError"
    assert stack.keys(STAGING) == []


def test_an_object_of_exactly_the_configured_limit_is_accepted(
    stack: Stack, context: FakeLambdaContext, configure: Configure, mime: bytes
) -> None:
    configure(MAX_MESSAGE_BYTES=str(len(mime)))
    event = stack.put_ses_object(mime, MESSAGE_ID)

    assert decrypt.handler(event, context)["mime"]["size"] == len(mime)


def test_a_missing_object_is_source_object_missing(stack: Stack, context: FakeLambdaContext) -> None:
    assert raised_name(load_event("state_decrypt_input.json"), context) == "SourceObjectMissingError"


@pytest.mark.parametrize("variable", ["STAGING_BUCKET", "ACCOUNT_ID", "INCOMING_BUCKET"])
def test_a_missing_variable_is_a_configuration_error_naming_it(
    stack: Stack, context: FakeLambdaContext, configure: Configure, mime: bytes, variable: str
) -> None:
    event = stack.put_ses_object(mime, MESSAGE_ID)
    configure(**{variable: None})

    error_type, message = lambda_error(decrypt.handler, event, context)

    assert error_type == "ConfigurationError"
    assert variable in message
    assert stack.keys(STAGING) == []


def test_an_input_that_is_not_an_ses_message_id_is_rejected_before_any_call(
    stack: Stack, context: FakeLambdaContext
) -> None:
    event = {**load_event("state_decrypt_input.json"), "message_id": "../../etc/passwd"}

    assert raised_name(event, context) == "ValidationError"
