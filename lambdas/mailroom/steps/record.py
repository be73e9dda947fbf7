"""Recorder: an execution that failed, timed out or was aborted outside our code is recorded as failed.

The state machine records every outcome it reaches itself (delivered, quarantined, unroutable). An
execution that *fails* — retries exhausted, a timeout, an abort, an unclassified error — never
reaches a state that could record it, so Step Functions' status-change event (EventBridge) brings
it here: without this, such an email would look "in flight" forever.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from mailroom import lifecycle
from mailroom.ports import ExecutionHistory, Failure, StatusStore
from mailroom.sesformat import is_ses_message_id

FAILED_STATUSES: Final = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


def message_id_of(detail: Mapping[str, Any]) -> str | None:
    """The SES message id: from the execution input (a restart's name is ``<id>-r<N>``), else the name."""
    try:
        payload = json.loads(detail.get("input") or "{}")
    except json.JSONDecodeError:
        payload = {}
    candidate = payload.get("message_id") if isinstance(payload, dict) else None
    if not isinstance(candidate, str):
        candidate = lifecycle.message_id_of(str(detail.get("name", "")))
    return candidate if is_ses_message_id(candidate) else None


def record_failure(
    detail: Mapping[str, Any], *, history: ExecutionHistory, status: StatusStore, now: str
) -> Failure | None:
    """Record one status-change event; None when it is not a failure of one of our emails, or when it comes
    late for an email that has an outcome already (a redrive or restart delivered it): nothing is recorded."""
    if detail.get("status") not in FAILED_STATUSES:
        return None
    message_id = message_id_of(detail)
    if message_id is None:
        return None
    arn = str(detail["executionArn"])
    failure = Failure(
        execution_arn=arn,
        status=str(detail["status"]),
        step=history.failed_step(arn),
        error=detail.get("error") or str(detail["status"]),
        cause=detail.get("cause"),
        stopped_at=str(detail.get("stopDate") or now),
    )
    return failure if status.mark_failed(message_id, failure=failure, now=now) else None
