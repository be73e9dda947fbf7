"""The records the steps pass each other: built from payloads, checked, dumped to the same bytes."""

from __future__ import annotations

from typing import Any

import pytest
from mailroom.models import Archived, Delivered, IncomingObject, Manifest, ObjectRef, ValidationError

SES_ID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
REF = {"bucket": "staging", "key": f"mime/{SES_ID}", "size": 3, "sha256": "a" * 64}


def manifest(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "message_id": SES_ID,
        "received_at": "2026-12-01T10:00:00.000Z",
        "header_message_id": "<x@example.com>",
        "subject": "Grüße ☃",
        "date": None,
        "senders": ["a@example.com"],
        "to": [],
        "cc": [],
        "verdicts": {"spam": "PASS", "virus": None},
        "defects": [],
        "original": REF,
        "text": None,
        "html": REF,
        "attachments": [
            {
                "index": 1,
                "filename": None,
                "safe_filename": "scan.pdf",
                "content_type": "application/pdf",
                "size": 3,
                "sha256": "b" * 64,
                "location": REF,
            }
        ],
        "mailboxes": [{"address": "a@in.example", "user": "u", "tenant": "t"}],
    }
    return base | changes


def test_a_manifest_survives_json_byte_for_byte_with_nested_records_built() -> None:
    built = Manifest.model_validate(manifest())
    text = built.model_dump_json()

    again = Manifest.model_validate_json(text.encode())

    assert again == built
    assert again.model_dump_json() == text
    assert isinstance(again.attachments[0].location, ObjectRef)
    assert text.startswith('{"message_id":"' + SES_ID + '","received_at"')  # compact, declaration order
    assert "Grüße ☃" in text  # not \u-escaped: the bytes pydantic wrote before


def test_unknown_keys_are_ignored_and_defaults_apply() -> None:
    delivered = Delivered.model_validate({"message_id": SES_ID, "items": 1, "new_items": 0, "extra": True})

    assert delivered.model_dump(mode="json") == {
        "message_id": SES_ID,
        "status": "delivered",
        "items": 1,
        "new_items": 0,
    }


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (manifest(senders="a@example.com"), "senders"),
        (manifest(original={**REF, "size": -1}), "original: size"),
        (manifest(html={**REF, "sha256": "XYZ"}), "html: sha256"),
        (manifest(attachments=[{"index": "1"}]), "attachments[0].index"),
        ({k: v for k, v in manifest().items() if k != "mailboxes"}, "mailboxes: field required"),
        (manifest(mailboxes=[{"address": "a", "user": "u", "tenant": True}]), "mailboxes[0].tenant"),
    ],
)
def test_a_payload_that_does_not_fit_names_the_field_not_the_value(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Manifest.model_validate(payload)

    assert where in str(raised.value)
    assert "a@example.com" not in str(raised.value)


def test_an_input_that_is_not_an_ses_message_id_is_a_validation_error_and_a_value_error() -> None:
    with pytest.raises(ValueError, match="message_id") as raised:
        IncomingObject.model_validate({"message_id": "../../etc/passwd", "bucket": "b", "key": "k", "received_at": ""})

    assert type(raised.value).__name__ == "ValidationError"  # the errorType the execution history shows


def test_a_literal_field_refuses_other_values_and_model_copy_checks_again() -> None:
    with pytest.raises(ValidationError, match="status"):
        Delivered.model_validate({"message_id": SES_ID, "status": "lost", "items": 0, "new_items": 0})
    archived = Archived.model_validate({"message_id": SES_ID, "received_at": "", "manifest": REF})

    with pytest.raises(ValidationError):
        archived.model_copy(update={"manifest": ObjectRef(**{**REF, "size": -5})})
