"""An email's lifecycle, in one place: its statuses, its executions' names and ARNs, the redrive window.

Every email has one status record (by SES message id): ``received`` while in flight, then an outcome
(``delivered``, ``quarantined``, ``unroutable``, ``duplicate``) or ``failed`` (step and error). Its
first execution is named by the SES message id; a restart with the same input is ``<id>-r<N>``.
Step Functions can redrive a stopped execution for 14 days. The Starter, the Recorder, the Watchdog,
the operator's CLI and the tests all read these facts from here.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

RECEIVED: Final = "received"
DELIVERED: Final = "delivered"
QUARANTINED: Final = "quarantined"
UNROUTABLE: Final = "unroutable"
DUPLICATE: Final = "duplicate"
FAILED: Final = "failed"
OUTCOMES: Final = (DELIVERED, QUARANTINED, UNROUTABLE, DUPLICATE)  # final: never set back to received or failed
STATUSES: Final = (RECEIVED, *OUTCOMES, FAILED)
# The reason of an email SES stored but no notification announced (the Watchdog's sweep): nobody knows its envelope.
NO_ENVELOPE: Final = "no-envelope"

# Step Functions: "Redriving executions" — a stopped STANDARD execution can be redriven for 14 days.
REDRIVE_WINDOW: Final = dt.timedelta(days=14)
MAX_RESTARTS: Final = 999

_RESTART = re.compile(r"(?P<id>.+)-r(?P<n>[1-9][0-9]{0,2})")


def is_outcome(status: str | None) -> bool:
    """Whether ``status`` is final (an email with an outcome is never replayed nor marked failed)."""
    return status in OUTCOMES


def execution_name(message_id: str, restart: int = 0) -> str:
    """The name of an email's execution: its SES message id, or ``<id>-r<N>`` for its N-th restart."""
    if not 0 <= restart <= MAX_RESTARTS:
        raise ValueError(f"restart must be between 0 and {MAX_RESTARTS}")
    return f"{message_id}-r{restart}" if restart else message_id


def message_id_of(name: str) -> str:
    """The SES message id an execution name is for (``<id>`` and ``<id>-r<N>`` alike)."""
    match = _RESTART.fullmatch(name)
    return match.group("id") if match else name


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN execution ``name`` of ``state_machine_arn`` has (or will have)."""
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def within_redrive_window(stopped: dt.datetime, now: dt.datetime) -> bool:
    """Whether an execution that stopped at ``stopped`` can still be redriven at ``now``."""
    return now - stopped <= REDRIVE_WINDOW
