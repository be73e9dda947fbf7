"""Archive: every staged file into the versioned archive bucket under a content key, exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from mail_factory import pdf_bytes, scanner_mail
from mailroom import composition
from mailroom.handlers import archive, parse
from moto_stack import (
    ARCHIVE,
    DOMAIN,
    RECEIVED_AT,
    STAGING,
    Configure,
    FakeLambdaContext,
    Stack,
    lambda_error,
    ses_received,
    sha256,
)

MESSAGE_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
SCAN = pdf_bytes(30_000, seed=1)
INVOICE = pdf_bytes(12_345, seed=2)
TEXT = b"Please find the scanned document attached."


def mail(attachments: list[tuple[str, bytes]]) -> bytes:
    return ses_received(scanner_mail(attachments, to=f"inbox-7@{DOMAIN}"), envelope_to=f"inbox-7@{DOMAIN}")


def parsed(stack: Stack, context: FakeLambdaContext, mime: bytes) -> dict[str, Any]:
    stack.add_mailbox(f"inbox-7@{DOMAIN}", "u-7")
    return parse.handler(stack.stage_mime(mime, MESSAGE_ID, recipients=[f"inbox-7@{DOMAIN}"]), context)


@pytest.fixture
def archive_writes(stack: Stack) -> Iterator[list[tuple[str, str, str | None]]]:
    """Each PutObject/CopyObject the handlers' S3 client sends to the archive bucket, in order, with If-None-Match."""
    writes: list[tuple[str, str, str | None]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name in ("PutObject", "CopyObject") and params.get("Bucket") == ARCHIVE:
            writes.append((model.name, params["Key"], params.get("IfNoneMatch")))

    events = composition.s3().meta.events
    events.register("before-parameter-build.s3", record)
    yield writes
    events.unregister("before-parameter-build.s3", record)


def test_each_file_is_archived_under_its_digest_and_the_manifest_points_there(
    stack: Stack, context: FakeLambdaContext
) -> None:
    mime = mail([("scan.pdf", SCAN), ("invoice.pdf", INVOICE)])
    event = parsed(stack, context, mime)

    result = archive.handler(event, context)

    manifest_key = f"messages/{MESSAGE_ID}/manifest.json"
    manifest_bytes = stack.read(ARCHIVE, manifest_key)
    assert result == {
        "message_id": MESSAGE_ID,
        "received_at": RECEIVED_AT,
        "manifest": {
            "bucket": ARCHIVE,
            "key": manifest_key,
            "size": len(manifest_bytes),
            "sha256": sha256(manifest_bytes),
        },
    }
    contents = {"original": mime, "text": TEXT, "scan": SCAN, "invoice": INVOICE}
    assert stack.keys(ARCHIVE) == sorted(
        [manifest_key] + [f"messages/{MESSAGE_ID}/{sha256(data)}" for data in contents.values()]
    )
    for data in contents.values():
        assert stack.read(ARCHIVE, f"messages/{MESSAGE_ID}/{sha256(data)}") == data
    doc = json.loads(manifest_bytes)
    refs = [doc["original"], doc["text"], *(f["location"] for f in doc["attachments"])]
    assert [ref["bucket"] for ref in refs] == [ARCHIVE] * 4
    assert [ref["key"] for ref in refs] == [
        f"messages/{MESSAGE_ID}/{sha256(data)}" for data in (mime, TEXT, SCAN, INVOICE)
    ]
    assert [f["sha256"] for f in doc["attachments"]] == [sha256(SCAN), sha256(INVOICE)]
    assert doc["mailboxes"] == [{"address": f"inbox-7@{DOMAIN}", "user": "u-7", "tenant": "acme"}]


def test_the_manifest_is_written_last(
    stack: Stack, context: FakeLambdaContext, archive_writes: list[tuple[str, str, str | None]]
) -> None:
    event = parsed(stack, context, mail([("scan.pdf", SCAN), ("invoice.pdf", INVOICE)]))

    archive.handler(event, context)

    assert len(archive_writes) == 5
    assert archive_writes[-1] == ("PutObject", f"messages/{MESSAGE_ID}/manifest.json", "*")
    assert {name for name, _, _ in archive_writes[:-1]} == {"CopyObject"}


def test_running_twice_writes_nothing_the_second_time(
    stack: Stack, context: FakeLambdaContext, archive_writes: list[tuple[str, str, str | None]]
) -> None:
    event = parsed(stack, context, mail([("scan.pdf", SCAN), ("invoice.pdf", INVOICE)]))
    first = archive.handler(event, context)
    versions = stack.object_versions(ARCHIVE)
    archive_writes.clear()

    second = archive.handler(event, context)

    assert second == first
    # Every write is conditional (S3 refuses it with 412 when the key exists): none of them wrote.
    assert len(archive_writes) == 5
    assert {if_none_match for _, _, if_none_match in archive_writes} == {"*"}
    assert stack.object_versions(ARCHIVE) == versions
    assert len(versions) == 5


def test_a_rerun_after_parse_ran_again_adds_no_object_version(stack: Stack, context: FakeLambdaContext) -> None:
    # A restart re-runs Parse (same files, same keys in staging) and then Archive.
    mime = mail([("scan.pdf", SCAN)])
    archive.handler(parsed(stack, context, mime), context)
    versions = stack.object_versions(ARCHIVE)

    archive.handler(
        parse.handler(stack.stage_mime(mime, MESSAGE_ID, recipients=[f"inbox-7@{DOMAIN}"]), context), context
    )

    assert stack.object_versions(ARCHIVE) == versions


def test_the_same_attachment_twice_in_one_email_is_one_archive_object(stack: Stack, context: FakeLambdaContext) -> None:
    event = parsed(stack, context, mail([("scan.pdf", SCAN), ("scan (copy).pdf", SCAN)]))

    result = archive.handler(event, context)

    doc = json.loads(stack.read(ARCHIVE, result["manifest"]["key"]))
    locations = [f["location"]["key"] for f in doc["attachments"]]
    assert [f["filename"] for f in doc["attachments"]] == ["scan.pdf", "scan (copy).pdf"]
    assert locations == [f"messages/{MESSAGE_ID}/{sha256(SCAN)}"] * 2
    assert len(stack.object_versions(ARCHIVE)) == 4  # original, text, one scan, manifest


def test_staging_is_left_as_it_was(stack: Stack, context: FakeLambdaContext) -> None:
    event = parsed(stack, context, mail([("scan.pdf", SCAN)]))
    staged = stack.keys(STAGING)

    archive.handler(event, context)

    assert stack.keys(STAGING) == staged


def test_a_missing_archive_bucket_variable_is_a_configuration_error_naming_it(
    stack: Stack, context: FakeLambdaContext, configure: Configure
) -> None:
    event = parsed(stack, context, mail([("scan.pdf", SCAN)]))
    configure(ARCHIVE_BUCKET=None)

    error_type, message = lambda_error(archive.handler, event, context)

    assert error_type == "ConfigurationError"
    assert "ARCHIVE_BUCKET" in message
    assert stack.keys(ARCHIVE) == []
