"""Watchdog: a failed email must not outlive its redrive window unnoticed, nor a stored one go unannounced.

Step Functions can redrive an execution for 14 days after it stopped. An email still failed after
``restart_after`` (12 days by default) is restarted: a new execution, with the original input,
named ``<message id>-r<N>``. If the cause is fixed it is delivered; if not, it fails again at the
same step — with a fresh 14-day window — and stays visible in ``mailroom emails --status failed``.
Restarting is safe because every step is idempotent (archive keys, conditional inbox puts); it is
bounded because it needs the encrypted original, kept for ``IncomingRetentionDays``.

The sweep finds what no notification announced: an object SES stored whose notification was lost
(or that was stored before envelope routing). Without its envelope nobody can say who it is for, so
once it is older than ``sweep_after`` with no status record it is recorded ``unroutable`` with reason
``no-envelope``: visible in ``mailroom emails``, and routable by an operator (``replay ID --to``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mailroom.layout import SETUP_NOTIFICATION
from mailroom.replay import restart
from mailroom.sesformat import is_ses_message_id


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


class IncomingObjects(Protocol):
    """Listing of the incoming bucket."""

    def list_objects(self, bucket: str, prefix: str) -> Iterable[tuple[str, dt.datetime]]:
        """``(key, last modified)`` under ``prefix``."""
        ...


class EmailRecords(Protocol):
    """What the sweep needs of the status records."""

    def known(self, message_ids: Sequence[str]) -> set[str]:
        """The ids that have a status record."""
        ...

    def mark_unenveloped(self, message_id: str, *, received_at: str, now: str) -> bool:
        """Record an email without envelope as unroutable (``no-envelope``), unless it has a record."""
        ...


def sweep(
    *,
    objects: IncomingObjects,
    status: EmailRecords,
    bucket: str,
    prefix: str,
    now: dt.datetime,
    older_than: dt.timedelta,
    lookback: dt.timedelta,
) -> list[str]:
    """Record every stored email older than ``older_than`` (and younger than ``lookback``) that has no status record.

    ``lookback`` bounds the status lookups to recent objects; it spans many sweeps, so a sweep that
    did not run for a while is made up by the next ones.
    """
    newest, oldest = now - older_than, now - lookback
    candidates: dict[str, dt.datetime] = {}
    for key, modified in objects.list_objects(bucket, prefix):
        name = key[len(prefix) :]
        if name == SETUP_NOTIFICATION or not is_ses_message_id(name):
            continue
        if oldest <= modified <= newest:
            candidates[name] = modified
    unknown = sorted(set(candidates) - status.known(list(candidates)))
    stamp = now.isoformat(timespec="milliseconds")
    return [
        message_id
        for message_id in unknown
        if status.mark_unenveloped(
            message_id, received_at=candidates[message_id].isoformat(timespec="milliseconds"), now=stamp
        )
    ]
