"""Each function's settings: read from its environment once, validated, or a clear start-up error."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import Any, Self

from mailroom.errors import ConfigurationError

SES_MAX_MESSAGE_BYTES = 40 * 1024 * 1024
_STATE_MACHINE_ARN = r"arn:aws[-a-z]*:states:[-a-z0-9]+:\d{12}:stateMachine:.+"


def _pattern(regex: str) -> dict[str, Any]:
    return {"pattern": re.compile(regex)}


def _between(low: int, high: int | None = None) -> dict[str, Any]:
    return {"low": low, "high": high}


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Settings:
    """Fields are ``str`` or ``int``; ``metadata`` may hold a ``pattern`` (str) or ``low``/``high`` bounds (int)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Field ``x_y`` comes from variable ``X_Y``; a missing or empty variable is an error, not ``""``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in dataclasses.fields(cls):
            variable = f.name.upper()
            raw = env.get(variable)
            if not raw:
                if f.default is dataclasses.MISSING:
                    problems.append(f"{variable}: Field required")
                continue
            problem = _check(f, raw)
            if problem:
                problems.append(f"{variable}: {problem}")
            else:
                values[f.name] = int(raw) if _is_int(f) else raw
        if problems:
            raise ConfigurationError(f"{cls.__name__} is invalid: {'; '.join(problems)}")
        return cls(**values)

    @classmethod
    def variables(cls) -> list[str]:
        """The environment variables this function reads."""
        return [f.name.upper() for f in dataclasses.fields(cls)]


def _is_int(f: dataclasses.Field[Any]) -> bool:
    return f.type in (int, "int")


def _check(f: dataclasses.Field[Any], raw: str) -> str | None:
    """What is wrong with ``raw`` as the value of ``f`` (None: nothing)."""
    if _is_int(f):
        try:
            number = int(raw)
        except ValueError:
            return "Input should be a valid integer"
        low, high = f.metadata.get("low"), f.metadata.get("high")
        if low is not None and number < low:
            return f"Input should be at least {low}"
        if high is not None and number > high:
            return f"Input should be at most {high}"
        return None
    pattern = f.metadata.get("pattern")
    if pattern is not None and not pattern.fullmatch(raw):
        return f"String should match pattern '{pattern.pattern}'"
    return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class StarterSettings(_Settings):
    """The Starter: which state machine, where status records go, where SES writes."""

    state_machine_arn: str = dataclasses.field(metadata=_pattern(_STATE_MACHINE_ARN))
    status_table: str
    incoming_prefix: str = "inbound/"


@dataclasses.dataclass(frozen=True, kw_only=True)
class DecryptSettings(_Settings):
    """Decrypt: where SES writes, where plaintext goes, whose mail we accept, how big it may be."""

    incoming_bucket: str
    staging_bucket: str
    account_id: str = dataclasses.field(metadata=_pattern(r"\d{12}"))
    max_message_bytes: int = dataclasses.field(default=SES_MAX_MESSAGE_BYTES, metadata=_between(1))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParseSettings(_Settings):
    """Parse: where plaintext is, which domain is ours, where mailboxes are registered."""

    staging_bucket: str
    mailbox_table: str
    recipient_domain: str = dataclasses.field(metadata=_pattern(r"[A-Za-z0-9.-]+"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArchiveSettings(_Settings):
    """Archive: from staging into the archive bucket."""

    staging_bucket: str
    archive_bucket: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class InboxSettings(_Settings):
    """Inbox: the archived manifest, the inbox table and the status records."""

    archive_bucket: str
    inbox_table: str
    status_table: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class RecorderSettings(_Settings):
    """Recorder: the status records."""

    status_table: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class WatchdogSettings(_Settings):
    """Watchdog: which state machine, the status records, and when a failed email is restarted."""

    state_machine_arn: str = dataclasses.field(metadata=_pattern(_STATE_MACHINE_ARN))
    status_table: str
    restart_after_days: int = dataclasses.field(default=12, metadata=_between(1, 13))
