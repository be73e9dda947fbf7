"""The SES-format producer writes what SES writes, checked against one-shot AES-GCM."""

from __future__ import annotations

import base64
import io
import json
import random
from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from mailroom.sesformat import is_ses_message_id

from mailroom_cli.local.ses_producer import SesObject, encrypt_for_ses, new_ses_message_id

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0b7a3b0c-3a5e-4b6e-9a8a-1d2c3b4a5f60"
MESSAGE_ID = "jsmb7e5m5o5di1ok4hrkntnrq4h6g2b0olpr6sg1"


class RecordingKeys:
    """Hands out one known data key and records what it was asked for."""

    def __init__(self) -> None:
        self.key = random.Random(7).randbytes(32)
        self.requests: list[tuple[str, dict[str, str]]] = []

    def generate_data_key(self, key_id: str, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        self.requests.append((key_id, dict(context)))
        return self.key, b"wrapped:" + key_id.encode()

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str]) -> bytes:
        raise AssertionError("producing never unwraps")


class NoSeek(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        return self._inner.read(min(size, 4096) if size >= 0 else 4096)


def produce(plaintext: bytes | io.RawIOBase | io.BytesIO, keys: RecordingKeys, **options: int) -> SesObject:
    return encrypt_for_ses(
        plaintext,
        key_service=keys,
        kms_key_id=KEY_ARN,
        message_id=MESSAGE_ID,
        rule_name="inbound-rule",
        account_id="123456789012",
        **options,
    )


def test_new_message_ids_have_the_ses_shape_and_differ() -> None:
    ids = {new_ses_message_id() for _ in range(200)}

    assert len(ids) == 200
    assert all(is_ses_message_id(value) for value in ids)


def test_metadata_is_exactly_what_ses_writes() -> None:
    keys = RecordingKeys()

    obj = produce(b"hello", keys)

    expected_matdesc = {
        "aws:ses:message-id": MESSAGE_ID,
        "aws:ses:rule-name": "inbound-rule",
        "aws:ses:source-account": "123456789012",
        "kms_cmk_id": KEY_ARN,
    }
    assert set(obj.metadata) == {
        "x-amz-key-v2",
        "x-amz-iv",
        "x-amz-cek-alg",
        "x-amz-wrap-alg",
        "x-amz-tag-len",
        "x-amz-matdesc",
        "x-amz-unencrypted-content-length",
    }
    assert obj.metadata["x-amz-cek-alg"] == "AES/GCM/NoPadding"
    assert obj.metadata["x-amz-wrap-alg"] == "kms"
    assert obj.metadata["x-amz-tag-len"] == "128"
    assert obj.metadata["x-amz-unencrypted-content-length"] == "5"
    assert json.loads(obj.metadata["x-amz-matdesc"]) == expected_matdesc
    assert base64.b64decode(obj.metadata["x-amz-key-v2"]) == b"wrapped:" + KEY_ARN.encode()
    assert len(base64.b64decode(obj.metadata["x-amz-iv"])) == 12
    assert keys.requests == [(KEY_ARN, expected_matdesc)]
    assert obj.content_length == 5 + 16


def one_shot(keys: RecordingKeys, obj: SesObject, plaintext: bytes) -> bytes:
    iv = base64.b64decode(obj.metadata["x-amz-iv"])
    return AESGCM(keys.key).encrypt(iv, plaintext, None)


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, (1 << 20) + 5, 3 * (1 << 20)])
def test_bytes_encrypt_to_what_one_shot_aes_gcm_gives(size: int) -> None:
    keys, plaintext = RecordingKeys(), random.Random(size).randbytes(size)

    obj = produce(plaintext, keys)

    assert obj.body.read() == one_shot(keys, obj, plaintext)


def test_a_seekable_stream_is_measured_and_read_lazily_in_odd_pieces() -> None:
    keys, plaintext = RecordingKeys(), random.Random(3).randbytes(200_003)
    source = io.BytesIO(b"skipped" + plaintext)
    source.seek(7)

    obj = produce(source, keys, chunk_size=65_536)
    pieces = iter(lambda: obj.body.read(7_919), b"")

    assert b"".join(pieces) == one_shot(keys, obj, plaintext)
    assert obj.metadata["x-amz-unencrypted-content-length"] == "200003"


def test_a_stream_that_cannot_seek_needs_its_length() -> None:
    keys, plaintext = RecordingKeys(), b"x" * 10_000

    with pytest.raises(ValueError, match="plaintext_length"):
        produce(NoSeek(plaintext), keys)

    obj = produce(NoSeek(plaintext), keys, plaintext_length=len(plaintext))
    assert obj.body.read() == one_shot(keys, obj, plaintext)


@pytest.mark.parametrize(("actual", "declared"), [(99, 100), (101, 100)])
def test_a_stream_whose_length_differs_from_the_declared_one_fails_while_reading(actual: int, declared: int) -> None:
    obj = produce(NoSeek(b"y" * actual), RecordingKeys(), plaintext_length=declared)

    with pytest.raises(ValueError, match="declared length"):
        obj.body.read()


def test_every_object_gets_a_fresh_iv() -> None:
    keys = RecordingKeys()

    ivs = {produce(b"same", keys).metadata["x-amz-iv"] for _ in range(20)}

    assert len(ivs) == 20
