"""What the steps pass each other (pointers and small metadata) and the manifest they share in S3.

State payloads stay far below Step Functions' 256 KB limit and never hold email content: an email's
subject, addresses and attachment list travel in the manifest object, which lives in the staging
bucket (then the archive) under the CMK.

Frozen records (``mailroom.records.Record``), checked by hand, not pydantic: importing pydantic and
building these schemas cost every cold start about 60 ms on a quiet 2-core machine (half of
``import boto3``), for nine small records. The method names are pydantic's (``model_validate``,
``model_dump``, ...), so callers read the same. A payload that does not fit raises
``ValidationError`` (a ``ValueError``), whose message names the field and the problem, never the
value (payloads may be a sender's input).
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

from mailroom.records import Record
from mailroom.sesformat import is_ses_message_id

_SHA256 = re.compile(r"[0-9a-f]{64}")


class ValidationError(ValueError):
    """A payload does not have the shape its model requires (the state's input was not ours)."""


def _fail(where: str, problem: str) -> ValidationError:
    return ValidationError(f"{where}: {problem}")


class _Model(Record):
    """A frozen record with pydantic's method names; fields are checked on ``model_validate``."""

    _hints: ClassVar[dict[str, Any]]

    @classmethod
    def model_validate(cls, data: Any, *, where: str = "") -> Self:
        """Build from a mapping (unknown keys ignored; nested records built too); ``ValidationError`` if it does
        not fit."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise _fail(where or cls.__name__, f"expected an object, got {type(data).__name__}")
        hints = cls._field_types()
        values: dict[str, Any] = {}
        for name in cls._record_fields:
            here = f"{where}.{name}" if where else name
            if name in data:
                values[name] = _convert(hints[name], data[name], here)
            elif name not in cls._record_defaults:
                raise _fail(here, "field required")
        try:
            return cls(**values)
        except ValidationError as exc:
            raise _fail(where, str(exc)) if where else exc from None

    @classmethod
    def model_validate_json(cls, data: str | bytes) -> Self:
        """``model_validate`` of a JSON document."""
        try:
            decoded = json.loads(data)
        except ValueError:
            raise _fail(cls.__name__, "not valid JSON") from None
        return cls.model_validate(decoded)

    def model_dump(self, *, mode: Literal["json", "python"] = "python") -> dict[str, Any]:
        """The record as a dict, nested records included (plain JSON types either way)."""
        return {name: _dumped(value) for name, value in self._record_items()}

    def model_dump_json(self) -> str:
        """Compact JSON, fields in declaration order (the same record is always the same bytes)."""
        return json.dumps(self.model_dump(), separators=(",", ":"), ensure_ascii=False)

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Self:
        """A copy with ``update`` applied."""
        copy: Self = self.__replace__(**(update or {}))
        return copy

    @classmethod
    def _field_types(cls) -> dict[str, Any]:
        hints = cls.__dict__.get("_hints")
        if hints is None:
            hints = typing.get_type_hints(cls)
            cls._hints = hints
        return hints


def _dumped(value: Any) -> Any:
    if isinstance(value, _Model):
        return value.model_dump()
    if isinstance(value, list):
        return [_dumped(v) for v in value]
    if isinstance(value, dict):
        return {k: _dumped(v) for k, v in value.items()}
    return value


def _convert(kind: Any, value: Any, where: str) -> Any:
    """``value`` as type ``kind`` (nested records built from mappings), or ``ValidationError``."""
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (only,) = [o for o in options if o is not type(None)]  # our models use ``X | None`` only
        return _convert(only, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise _fail(where, f"expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(kind)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _fail(where, f"expected an object, got {type(value).__name__}")
        key_kind, value_kind = typing.get_args(kind)
        return {_convert(key_kind, k, where): _convert(value_kind, v, f"{where}.{k}") for k, v in value.items()}
    if origin is Literal:
        if value not in typing.get_args(kind):
            raise _fail(where, f"expected one of {', '.join(map(repr, typing.get_args(kind)))}")
        return value
    if isinstance(kind, type) and issubclass(kind, _Model):
        return kind.model_validate(value, where=where)
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, f"expected an integer, got {type(value).__name__}")
        return value
    if kind is bool or kind is str:
        if not isinstance(value, kind):
            raise _fail(where, f"expected {kind.__name__}, got {type(value).__name__}")
        return value
    raise TypeError(f"{where}: no conversion to {kind!r}")  # a model declared a type this module does not know


def _at_least_zero(where: str, value: int) -> None:
    if value < 0:
        raise _fail(where, "must be 0 or more")


class ObjectRef(_Model):
    """One object in S3 with what we know of its bytes."""

    bucket: str
    key: str
    size: int
    sha256: str

    def __post_init__(self) -> None:
        _at_least_zero("size", self.size)
        if not _SHA256.fullmatch(self.sha256):
            raise _fail("sha256", "not a lowercase hex SHA-256 digest")


class IncomingObject(_Model):
    """The Starter's execution input: one SES-written object, as SES's notification named it (no address)."""

    message_id: str
    bucket: str
    key: str
    received_at: str

    def __post_init__(self) -> None:
        # The id names the execution and every derived key: nothing else may reach them.
        if not is_ses_message_id(self.message_id):
            raise _fail("message_id", "not an SES message id (28 or 40 characters of [0-9a-v])")


class Decrypted(_Model):
    """Decrypt's output: where the plaintext MIME now is."""

    message_id: str
    received_at: str
    mime: ObjectRef


class Parsed(_Model):
    """Parse's output: where the manifest is, and counts for logs and metrics."""

    message_id: str
    received_at: str
    manifest: ObjectRef
    mailboxes: int
    attachments: int


class Archived(_Model):
    """Archive's output: the manifest as archived (its references point into the archive)."""

    message_id: str
    received_at: str
    manifest: ObjectRef


class Delivered(_Model):
    """Inbox's output, the execution's result on the happy path."""

    message_id: str
    status: Literal["delivered", "duplicate"] = "delivered"
    items: int
    new_items: int


class Mailbox(_Model):
    """A registered address and whose inbox it feeds."""

    address: str
    user: str
    tenant: str


class ManifestFile(_Model):
    """An attachment (or body) of the email and where its bytes are."""

    index: int
    filename: str | None
    safe_filename: str
    content_type: str
    size: int
    sha256: str
    inline: bool = False
    content_id: str | None = None
    nested_message: bool = False
    location: ObjectRef


class Manifest(_Model):
    """Everything downstream steps need to know about one email, without its bytes."""

    message_id: str
    received_at: str
    header_message_id: str | None
    subject: str | None
    date: str | None
    senders: list[str]
    to: list[str]
    cc: list[str]
    verdicts: dict[str, str | None]
    defects: list[str]
    original: ObjectRef
    text: ObjectRef | None
    html: ObjectRef | None
    attachments: list[ManifestFile]
    mailboxes: list[Mailbox]
