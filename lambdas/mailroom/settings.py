"""Each function's settings: read from its environment once, validated, or a clear start-up error."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from mailroom.errors import ConfigurationError
from mailroom.records import Record

SES_MAX_MESSAGE_BYTES = 40 * 1024 * 1024
_STATE_MACHINE_ARN = r"arn:aws[-a-z]*:states:[-a-z0-9]+:\d{12}:stateMachine:.+"


class _Settings(Record):
    """Fields are ``str`` or ``int``; ``_patterns`` (str) and ``_bounds`` (int, inclusive) constrain them."""

    _patterns: ClassVar[dict[str, str]] = {}
    _bounds: ClassVar[dict[str, tuple[int, int | None]]] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Field ``x_y`` comes from variable ``X_Y``; a missing or empty variable is an error, not ``""``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name in cls._record_fields:
            variable = name.upper()
            raw = env.get(variable)
            if not raw:
                if name not in cls._record_defaults:
                    problems.append(f"{variable}: Field required")
                continue
            problem = cls._check(name, raw)
            if problem:
                problems.append(f"{variable}: {problem}")
            else:
                values[name] = int(raw) if name in cls._bounds else raw
        if problems:
            raise ConfigurationError(f"{cls.__name__} is invalid: {'; '.join(problems)}")
        return cls(**values)

    @classmethod
    def variables(cls) -> list[str]:
        """The environment variables this function reads."""
        return [name.upper() for name in cls._record_fields]

    @classmethod
    def _check(cls, name: str, raw: str) -> str | None:
        """What is wrong with ``raw`` as the value of field ``name`` (None: nothing)."""
        if name in cls._bounds:
            try:
                number = int(raw)
            except ValueError:
                return "Input should be a valid integer"
            low, high = cls._bounds[name]
            if number < low:
                return f"Input should be at least {low}"
            if high is not None and number > high:
                return f"Input should be at most {high}"
            return None
        pattern = cls._patterns.get(name)
        if pattern is not None and not re.fullmatch(pattern, raw):
            return f"String should match pattern '{pattern}'"
        return None


class StarterSettings(_Settings):
    """The Starter: which state machine, where status records go, where SES writes."""

    _patterns: ClassVar[dict[str, str]] = {"state_machine_arn": _STATE_MACHINE_ARN}
    state_machine_arn: str
    status_table: str
    incoming_bucket: str
    incoming_prefix: str = "inbound/"


class DecryptSettings(_Settings):
    """Decrypt: where SES writes, where plaintext goes, whose mail we accept, how big it may be."""

    incoming_bucket: str
    staging_bucket: str
    _patterns: ClassVar[dict[str, str]] = {"account_id": r"\d{12}"}
    _bounds: ClassVar[dict[str, tuple[int, int | None]]] = {"max_message_bytes": (1, None)}
    account_id: str
    max_message_bytes: int = SES_MAX_MESSAGE_BYTES


class ParseSettings(_Settings):
    """Parse: where plaintext is, which domain is ours, where mailboxes and envelopes are."""

    staging_bucket: str
    mailbox_table: str
    status_table: str
    _patterns: ClassVar[dict[str, str]] = {"recipient_domain": r"[A-Za-z0-9.-]+"}
    recipient_domain: str


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

    _patterns: ClassVar[dict[str, str]] = {"state_machine_arn": _STATE_MACHINE_ARN}
    state_machine_arn: str
    status_table: str
    _bounds: ClassVar[dict[str, tuple[int, int | None]]] = {
        "restart_after_days": (1, 13),
        "sweep_after_minutes": (1, None),
        "sweep_lookback_hours": (1, None),
    }
    restart_after_days: int = 12
    incoming_bucket: str
    incoming_prefix: str = "inbound/"
    # A notification normally follows its object within seconds; 15 minutes leaves room for SNS retries.
    sweep_after_minutes: int = 15
    sweep_lookback_hours: int = 48
