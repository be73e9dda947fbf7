"""SES object metadata: parsing, validation and the errors each defect raises."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mailroom.errors import EncryptionMetadataError, UnsupportedAlgorithmError
from mailroom.sesformat import EnvelopeMetadata, is_ses_message_id

from mailroom_cli.local.ses_producer import s3_metadata

MESSAGE_ID = "0123456789abcdefghijklmnopqrstuv01234567"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
MATDESC = {
    "aws:ses:message-id": MESSAGE_ID,
    "aws:ses:rule-name": "inbound-rule",
    "aws:ses:source-account": "123456789012",
    "kms_cmk_id": KEY_ARN,
}


def ses_metadata(**overrides: str | None) -> dict[str, str]:
    """Metadata as SES writes it, written out literally; ``None`` removes a key."""
    metadata = {
        "x-amz-key-v2": base64.b64encode(b"wrapped-data-key-blob").decode(),
        "x-amz-iv": base64.b64encode(bytes(range(12))).decode(),
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-wrap-alg": "kms",
        "x-amz-tag-len": "128",
        "x-amz-matdesc": json.dumps(MATDESC),
        "x-amz-unencrypted-content-length": "1234",
    }
    for name, value in overrides.items():
        key = "x-amz-" + name.replace("_", "-")
        if value is None:
            del metadata[key]
        else:
            metadata[key] = value
    return metadata


def test_parses_what_ses_writes() -> None:
    envelope = EnvelopeMetadata.from_s3_metadata(ses_metadata())

    assert envelope.wrapped_key == b"wrapped-data-key-blob"
    assert envelope.iv == bytes(range(12))
    assert envelope.plaintext_length == 1234
    assert envelope.ciphertext_length == 1234 + 16
    assert envelope.message_id == MESSAGE_ID
    assert envelope.rule_name == "inbound-rule"
    assert envelope.source_account == "123456789012"
    assert envelope.kms_cmk_id == KEY_ARN


def test_encryption_context_is_the_whole_material_description_including_the_key_id() -> None:
    envelope = EnvelopeMetadata.from_s3_metadata(ses_metadata())

    context = envelope.encryption_context()

    assert context == MATDESC
    context["kms_cmk_id"] = "changed"
    assert envelope.encryption_context() == MATDESC


def test_metadata_names_are_matched_case_insensitively() -> None:
    upper = {name.upper(): value for name, value in ses_metadata().items()}

    assert EnvelopeMetadata.from_s3_metadata(upper).plaintext_length == 1234


def test_writing_then_parsing_gives_the_same_envelope() -> None:
    envelope = EnvelopeMetadata.from_s3_metadata(ses_metadata())

    assert EnvelopeMetadata.from_s3_metadata(s3_metadata(envelope)) == envelope


def test_repr_shows_no_key_blob_or_iv() -> None:
    text = repr(EnvelopeMetadata.from_s3_metadata(ses_metadata()))

    assert "wrapped" not in text
    assert "iv=" not in text


@pytest.mark.parametrize(
    "name",
    ["key_v2", "iv", "cek_alg", "wrap_alg", "tag_len", "matdesc", "unencrypted_content_length"],
)
def test_a_missing_metadata_key_is_a_metadata_error(name: str) -> None:
    with pytest.raises(EncryptionMetadataError, match=name.replace("_", "-")):
        EnvelopeMetadata.from_s3_metadata(ses_metadata(**{name: None}))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"key_v2": "not base64!"}, "x-amz-key-v2 is not valid base64"),
        ({"key_v2": ""}, "x-amz-key-v2 is empty"),
        ({"iv": "AAAA=AAA"}, "x-amz-iv is not valid base64"),
        ({"iv": base64.b64encode(bytes(16)).decode()}, "x-amz-iv decodes to 16 bytes"),
        ({"iv": "ÄÖÜ"}, "x-amz-iv is not valid base64"),
        ({"tag_len": "128 bits"}, "x-amz-tag-len is not a non-negative decimal integer"),
        ({"unencrypted_content_length": "-1"}, "not a non-negative decimal integer"),
        ({"unencrypted_content_length": "١٢"}, "not a non-negative decimal integer"),
        ({"unencrypted_content_length": ""}, "not a non-negative decimal integer"),
        ({"matdesc": "{not json"}, "not valid JSON"),
        ({"matdesc": "[]"}, "not a JSON object"),
        ({"matdesc": json.dumps({"aws:ses:message-id": MESSAGE_ID})}, "lacks aws:ses:rule-name"),
        ({"matdesc": json.dumps({**MATDESC, "kms_cmk_id": 7})}, "not a non-empty string"),
        ({"matdesc": json.dumps({**MATDESC, "aws:ses:rule-name": ""})}, "not a non-empty string"),
        ({"matdesc": json.dumps({**MATDESC, "aws:ses:message-id": "x"})}, "not an SES message id"),
        ({"matdesc": json.dumps({**MATDESC, "aws:ses:source-account": "1234"})}, "not an account id"),
        (
            {"matdesc": json.dumps(MATDESC)[:-1] + f', "aws:ses:message-id": "{"v" * 40}"}}'},
            "duplicate",
        ),
    ],
)
def test_garbled_metadata_is_a_metadata_error(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(EncryptionMetadataError, match=message):
        EnvelopeMetadata.from_s3_metadata(ses_metadata(**overrides))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cek_alg": "AES/CBC/PKCS5Padding"}, "AES/CBC/PKCS5Padding"),
        ({"cek_alg": "AES/GCM/NoPadding "}, "x-amz-cek-alg"),
        ({"wrap_alg": "kms+context"}, "kms\\+context is not what SES writes"),
        ({"wrap_alg": "AESWrap"}, "AESWrap"),
        ({"tag_len": "96"}, "x-amz-tag-len 96"),
        ({"key_v2": None, "key": base64.b64encode(b"v1").decode()}, "V1 envelope"),
    ],
)
def test_an_algorithm_ses_does_not_use_is_unsupported(overrides: dict[str, str | None], message: str) -> None:
    with pytest.raises(UnsupportedAlgorithmError, match=message):
        EnvelopeMetadata.from_s3_metadata(ses_metadata(**overrides))


def test_an_unsupported_algorithm_is_reported_even_when_other_keys_are_missing() -> None:
    # The V2 client's CBC mode writes no tag length; the algorithm is the real reason to refuse.
    metadata = ses_metadata(cek_alg="AES/CBC/PKCS5Padding", tag_len=None)

    with pytest.raises(UnsupportedAlgorithmError):
        EnvelopeMetadata.from_s3_metadata(metadata)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (MESSAGE_ID, True),
        ("v" * 40, True),
        ("d6iitobk75ur44p8kdnnp7g2n800", True),  # AWS's notification example: 28 characters
        ("0" * 27, False),
        ("0" * 29, False),
        ("0" * 39, False),
        ("0" * 41, False),
        ("w" + "0" * 39, False),
        (MESSAGE_ID.upper(), False),
        (MESSAGE_ID + "\n", False),
        ("AMAZON_SES_SETUP_NOTIFICATION", False),
    ],
)
def test_ses_message_id_shape(value: str, valid: bool) -> None:
    assert is_ses_message_id(value) is valid


@given(st.dictionaries(st.sampled_from(sorted(ses_metadata())), st.text(max_size=80)))
def test_arbitrary_metadata_raises_only_taxonomy_errors(garbage: dict[str, str]) -> None:
    metadata = {**ses_metadata(), **garbage}

    with contextlib.suppress(EncryptionMetadataError, UnsupportedAlgorithmError):
        EnvelopeMetadata.from_s3_metadata(metadata)
