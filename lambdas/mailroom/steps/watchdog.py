"""Watchdog: a failed email must not outlive its redrive window unnoticed.

Step Functions can redrive an execution for 14 days after it stopped. An email still failed after
``restart_after`` (12 days by default) is restarted: a new execution, with the original input,
named ``<message id>-r<N>``. If the cause is fixed it is delivered; if not, it fails again at the
same step — with a fresh 14-day window — and stays visible in ``mailroom emails --status failed``.
Restarting is safe because every step is idempotent (archive keys, conditional inbox puts); it is
bounded because it needs the encrypted original, kept for ``IncomingRetentionDays``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MAX_RESTARTS = 999


class FailedEmails(Protocol):
    """Status records of failed emails."""

    def failed_since_before(self, cutoff: str) -> Sequence[Mapping[str, Any]]:
        """Failed records last updated before ``cutoff`` (ISO 8601)."""
        ...

    def mark_restarted(self, message_id: str, *, execution_arn: str, now: str) -> None:
        """The email is in flight again under ``execution_arn``."""
        ...


class Executions(Protocol):
    """What the watchdog needs from Step Functions."""

    def input_of(self, execution_arn: str) -> str | None:
        """The execution's input (None when it no longer exists)."""
        ...

    def start_named(self, name: str, payload: str) -> str | None:
        """Start an execution ``name``; None when that name is taken."""
        ...


@dataclass(frozen=True)
class Restarted:
    """One email the watchdog restarted."""

    message_id: str
    execution_arn: str


def restart_name(message_id: str, n: int) -> str:
    """The name of an email's ``n``-th restart."""
    return f"{message_id}-r{n}"


def restart(message_id: str, payload: str, executions: Executions) -> str:
    """Start ``<id>-r<N>`` for the first free N; its ARN."""
    for n in range(1, MAX_RESTARTS + 1):
        arn = executions.start_named(restart_name(message_id, n), payload)
        if arn is not None:
            return arn
    raise RuntimeError(f"{message_id} was restarted {MAX_RESTARTS} times already")


def watch(
    *, status: FailedEmails, executions: Executions, now: dt.datetime, restart_after: dt.timedelta
) -> list[Restarted]:
    """Restart every email failed for longer than ``restart_after``."""
    cutoff = (now - restart_after).isoformat(timespec="milliseconds")
    done = []
    for record in status.failed_since_before(cutoff):
        message_id = str(record["message_id"])
        payload = executions.input_of(str(record.get("execution_arn", "")))
        if payload is None:
            continue  # nothing to restart from; stays failed and visible
        arn = restart(message_id, payload, executions)
        status.mark_restarted(message_id, execution_arn=arn, now=now.isoformat(timespec="milliseconds"))
        done.append(Restarted(message_id, arn))
    return done
