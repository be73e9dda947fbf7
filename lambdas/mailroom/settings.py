"""Each function's settings: read from its environment once, validated, or a clear start-up error."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mailroom.errors import ConfigurationError

SES_MAX_MESSAGE_BYTES = 40 * 1024 * 1024


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Field ``x_y`` comes from variable ``X_Y``; a missing or empty variable is an error, not ``""``."""
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if env.get(name.upper())}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigurationError(f"{cls.__name__} is invalid: {problems}") from None


class StarterSettings(_Settings):
    """The Starter: which state machine, where status records go, where SES writes."""

    state_machine_arn: str = Field(pattern=r"^arn:aws[-a-z]*:states:[-a-z0-9]+:\d{12}:stateMachine:.+$")
    status_table: str
    incoming_bucket: str
    incoming_prefix: str = "inbound/"


class DecryptSettings(_Settings):
    """Decrypt: where SES writes, where plaintext goes, whose mail we accept, how big it may be."""

    incoming_bucket: str
    staging_bucket: str
    account_id: str = Field(pattern=r"^\d{12}$")
    max_message_bytes: int = Field(default=SES_MAX_MESSAGE_BYTES, gt=0)


class ParseSettings(_Settings):
    """Parse: where plaintext is, which domain is ours, where mailboxes and envelopes are."""

    staging_bucket: str
    mailbox_table: str
    status_table: str
    recipient_domain: str = Field(pattern=r"^[A-Za-z0-9.-]+$")


class ArchiveSettings(_Settings):
    """Archive: from staging into the archive bucket."""

    staging_bucket: str
    archive_bucket: str


class InboxSettings(_Settings):
    """Inbox: the archived manifest, the inbox table and the status records."""

    archive_bucket: str
    inbox_table: str
    status_table: str


class RecorderSettings(_Settings):
    """Recorder: the status records."""

    status_table: str


class WatchdogSettings(_Settings):
    """Watchdog: which state machine, the status records, when a failed email is restarted, what to sweep."""

    state_machine_arn: str = Field(pattern=r"^arn:aws[-a-z]*:states:[-a-z0-9]+:\d{12}:stateMachine:.+$")
    status_table: str
    restart_after_days: int = Field(default=12, ge=1, le=13)
    incoming_bucket: str
    incoming_prefix: str = "inbound/"
    # A notification normally follows its object within seconds; 15 minutes leaves room for SNS retries.
    sweep_after_minutes: int = Field(default=15, ge=1)
    sweep_lookback_hours: int = Field(default=48, ge=1)
