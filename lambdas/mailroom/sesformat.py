"""The object format SES writes to S3 when a receipt rule's S3 action encrypts with a KMS key.

SES uses the S3 encryption client's "V2" metadata with the legacy ``kms`` key wrap: a 256-bit data
key from KMS ``GenerateDataKey`` (encryption context = the material description), AES-256-GCM with
a 12-byte IV, and the 16-byte tag appended to the ciphertext. Keys below are the S3 user-metadata
names as boto3 returns them in ``Metadata`` (lower-case, without the ``x-amz-meta-`` prefix).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Final

from mailroom.errors import EncryptionMetadataError, UnsupportedAlgorithmError
from mailroom.records import Record

KEY_V2: Final = "x-amz-key-v2"
KEY_V1: Final = "x-amz-key"
IV: Final = "x-amz-iv"
CEK_ALG: Final = "x-amz-cek-alg"
WRAP_ALG: Final = "x-amz-wrap-alg"
TAG_LEN: Final = "x-amz-tag-len"
MATDESC: Final = "x-amz-matdesc"
UNENCRYPTED_LENGTH: Final = "x-amz-unencrypted-content-length"

CEK_AES_GCM: Final = "AES/GCM/NoPadding"
WRAP_KMS: Final = "kms"
WRAP_KMS_CONTEXT: Final = "kms+context"
TAG_BITS: Final = 128
TAG_BYTES: Final = TAG_BITS // 8
IV_BYTES: Final = 12
DATA_KEY_BYTES: Final = 32

MATDESC_MESSAGE_ID: Final = "aws:ses:message-id"
MATDESC_RULE_NAME: Final = "aws:ses:rule-name"
MATDESC_SOURCE_ACCOUNT: Final = "aws:ses:source-account"
MATDESC_CMK_ID: Final = "kms_cmk_id"
MATDESC_KEYS: Final = (MATDESC_MESSAGE_ID, MATDESC_RULE_NAME, MATDESC_SOURCE_ACCOUNT, MATDESC_CMK_ID)

MESSAGE_ID_ALPHABET: Final = "0123456789abcdefghijklmnopqrstuv"
MESSAGE_ID_LENGTH: Final = 40  # what SES issues today; AWS's own examples also show 28-character ids

# fullmatch with explicit ASCII classes: `$` would accept a trailing newline, `\d` other digits. Both
# lengths AWS documents are accepted ("Examples of notifications for Amazon SES email receiving" shows
# a 28-character id, its S3 examples 40).
_MESSAGE_ID = re.compile(r"[0-9a-v]{28}|[0-9a-v]{40}")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_UNSIGNED = re.compile(r"[0-9]{1,19}")
_SHOWN = 64


def is_ses_message_id(value: str) -> bool:
    """Whether ``value`` has the shape of an SES message id (28 or 40 characters of ``[0-9a-v]``)."""
    return _MESSAGE_ID.fullmatch(value) is not None


def is_account_id(value: str) -> bool:
    """Whether ``value`` has the shape of an AWS account id (12 ASCII digits)."""
    return _ACCOUNT_ID.fullmatch(value) is not None


class EnvelopeMetadata(Record):
    """The validated client-side-encryption metadata of one SES object."""

    _record_unprinted: ClassVar[frozenset[str]] = frozenset({"wrapped_key", "iv"})
    wrapped_key: bytes
    iv: bytes
    material_description: Mapping[str, str]
    plaintext_length: int

    @property
    def message_id(self) -> str:
        """The SES message id the material description names."""
        return self.material_description[MATDESC_MESSAGE_ID]

    @property
    def rule_name(self) -> str:
        """The receipt rule that wrote the object."""
        return self.material_description[MATDESC_RULE_NAME]

    @property
    def source_account(self) -> str:
        """The AWS account SES wrote the object for."""
        return self.material_description[MATDESC_SOURCE_ACCOUNT]

    @property
    def kms_cmk_id(self) -> str:
        """The KMS key the receipt rule names."""
        return self.material_description[MATDESC_CMK_ID]

    @property
    def ciphertext_length(self) -> int:
        """The object length this metadata implies: plaintext plus the appended tag."""
        return self.plaintext_length + TAG_BYTES

    def encryption_context(self) -> dict[str, str]:
        """The KMS encryption context for unwrapping: the whole material description."""
        return dict(self.material_description)

    @classmethod
    def from_s3_metadata(cls, metadata: Mapping[str, str], *, object_size: int | None = None) -> EnvelopeMetadata:
        """Parse and validate S3 user metadata; algorithms are checked before anything else.

        SES stores mail of 5 MB and more with a multipart upload, and AWS does not document that
        ``x-amz-unencrypted-content-length`` is written then. Without it the plaintext length is the
        object's size less the appended tag (``object_size``); the GCM tag still authenticates every byte.
        """
        meta = {str(name).lower(): value for name, value in metadata.items()}
        _check_algorithms(meta)
        iv = _base64_field(meta, IV)
        if len(iv) != IV_BYTES:
            raise EncryptionMetadataError(f"{IV} decodes to {len(iv)} bytes, expected {IV_BYTES}")
        wrapped_key = _base64_field(meta, KEY_V2)
        if not wrapped_key:
            raise EncryptionMetadataError(f"{KEY_V2} is empty")
        return cls(
            wrapped_key=wrapped_key,
            iv=iv,
            material_description=MappingProxyType(_material_description(meta)),
            plaintext_length=_plaintext_length(meta, object_size),
        )


def _plaintext_length(meta: Mapping[str, object], object_size: int | None) -> int:
    if UNENCRYPTED_LENGTH in meta or object_size is None:
        return _unsigned_field(meta, UNENCRYPTED_LENGTH)
    if object_size < TAG_BYTES:
        raise EncryptionMetadataError(f"the object is {object_size} bytes, shorter than the {TAG_BYTES}-byte tag")
    return object_size - TAG_BYTES


def _check_algorithms(meta: Mapping[str, object]) -> None:
    if KEY_V2 not in meta and KEY_V1 in meta:
        raise UnsupportedAlgorithmError(f"V1 envelope ({KEY_V1}) is not what SES writes; expected {KEY_V2}")
    cek_alg = _text_field(meta, CEK_ALG)
    if cek_alg != CEK_AES_GCM:
        raise UnsupportedAlgorithmError(f"{CEK_ALG} {_shown(cek_alg)} is not {CEK_AES_GCM}")
    wrap_alg = _text_field(meta, WRAP_ALG)
    if wrap_alg == WRAP_KMS_CONTEXT:
        # The V2 client writes kms+context (its own context entries); SES never does, so such an
        # object did not come from SES and its context could not be checked like SES's.
        raise UnsupportedAlgorithmError(f"{WRAP_ALG} {WRAP_KMS_CONTEXT} is not what SES writes ({WRAP_KMS})")
    if wrap_alg != WRAP_KMS:
        raise UnsupportedAlgorithmError(f"{WRAP_ALG} {_shown(wrap_alg)} is not {WRAP_KMS}")
    tag_bits = _unsigned_field(meta, TAG_LEN)
    if tag_bits != TAG_BITS:
        raise UnsupportedAlgorithmError(f"{TAG_LEN} {tag_bits} is not {TAG_BITS}")


def _material_description(meta: Mapping[str, object]) -> dict[str, str]:
    raw = _text_field(meta, MATDESC)
    try:
        parsed = json.loads(raw, object_pairs_hook=_unique_pairs)
    except (ValueError, RecursionError):
        raise EncryptionMetadataError(f"{MATDESC} is not valid JSON without duplicate names") from None
    if not isinstance(parsed, dict):
        raise EncryptionMetadataError(f"{MATDESC} is not a JSON object")
    missing = [name for name in MATDESC_KEYS if name not in parsed]
    if missing:
        raise EncryptionMetadataError(f"{MATDESC} lacks {', '.join(missing)}")
    if not all(isinstance(value, str) and value for value in parsed.values()):
        raise EncryptionMetadataError(f"{MATDESC} has a value that is not a non-empty string")
    if not is_ses_message_id(parsed[MATDESC_MESSAGE_ID]):
        raise EncryptionMetadataError(f"{MATDESC} {MATDESC_MESSAGE_ID} is not an SES message id")
    if not is_account_id(parsed[MATDESC_SOURCE_ACCOUNT]):
        raise EncryptionMetadataError(f"{MATDESC} {MATDESC_SOURCE_ACCOUNT} is not an account id")
    return parsed


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        # Two readings of one name would let the context KMS checks differ from the one we check.
        raise ValueError("duplicate name")
    return result


def _text_field(meta: Mapping[str, object], name: str) -> str:
    value = meta.get(name)
    if value is None:
        raise EncryptionMetadataError(f"{name} is missing")
    if not isinstance(value, str):
        raise EncryptionMetadataError(f"{name} is not text")
    return value


def _base64_field(meta: Mapping[str, object], name: str) -> bytes:
    try:
        return base64.b64decode(_text_field(meta, name), validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionMetadataError(f"{name} is not valid base64") from None


def _unsigned_field(meta: Mapping[str, object], name: str) -> int:
    value = _text_field(meta, name)
    if _UNSIGNED.fullmatch(value) is None:
        raise EncryptionMetadataError(f"{name} is not a non-negative decimal integer")
    return int(value)


def _shown(value: str) -> str:
    return repr(value[:_SHOWN])
