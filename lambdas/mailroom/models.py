"""What the steps pass each other (pointers and small metadata) and the manifest they share in S3.

State payloads stay far below Step Functions' 256 KB limit and never hold email content: an email's
subject, addresses and attachment list travel in the manifest object, which lives in the staging
bucket (then the archive) under the CMK.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mailroom.sesformat import is_ses_message_id


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ObjectRef(_Model):
    """One object in S3 with what we know of its bytes."""

    bucket: str
    key: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class IncomingObject(_Model):
    """The Starter's execution input: one SES-written object, as SES's notification named it (no address)."""

    message_id: str
    bucket: str
    key: str
    received_at: str

    @field_validator("message_id")
    @classmethod
    def _ses_shaped(cls, value: str) -> str:
        # The id names the execution and every derived key: nothing else may reach them.
        if not is_ses_message_id(value):
            raise ValueError("not an SES message id (28 or 40 characters of [0-9a-v])")
        return value


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
