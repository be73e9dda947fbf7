"""The operator's side: every email's status and history, replay, and the numbers (AWS or local alike)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from mailroom import lifecycle
from mailroom import replay as replaying
from mailroom.adapters.dynamodb import DynamoStatusStore, from_item
from mailroom.adapters.s3 import S3BlobStore
from mailroom.adapters.stepfunctions import StepFunctionsWorkflow
from mailroom.errors import leaf_errors
from mailroom.routing import MAX_ADDRESS_LENGTH
from mailroom.sesformat import is_ses_message_id
from mailroom.steps.watchdog import sweep as sweep_unenveloped

from mailroom_cli.target import Target

STATUSES = lifecycle.STATUSES
# History events: an attempt at a Task begins (the Lambda integration's and the legacy shapes), or ends in error.
_ATTEMPTS = frozenset({"TaskScheduled", "LambdaFunctionScheduled"})
_ATTEMPT_FAILURES = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
    }
)
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class OperatorError(RuntimeError):
    """A request the operator must rephrase (bad duration, unknown email…)."""


class NoExecutionError(OperatorError):
    """The email has no execution: never started (SES never announced it), or past Step Functions' retention."""


def parse_duration(text: str, *, allow_zero: bool = False) -> dt.timedelta:
    """``90s``, ``15m``, ``2h``, ``7d``, ``1w`` (more than zero: "within 0s" would match nothing)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise OperatorError(f"{text!r} is not a duration like 30m, 2h, 7d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0 and not allow_zero:
        raise OperatorError(f"{text!r} is no window: give a duration above zero, like 30m")
    return dt.timedelta(seconds=seconds)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------------------- emails


def _reason(error: str | None, status: str, recorded: str | None = None) -> str | None:
    if recorded:
        return recorded  # e.g. "no-envelope": written by the Watchdog's sweep
    if status == "unroutable":
        return "unroutable"
    if error and error in leaf_errors():
        return leaf_errors()[error].reason
    return error


def email_row(item: dict[str, Any]) -> dict[str, Any]:
    """A status record in the ``emails --json`` shape (DESIGN §7)."""
    status = str(item.get("status", "received"))
    error = item.get("error")
    received, delivered = _parse_time(item.get("received_at")), _parse_time(item.get("delivered_at"))
    return {
        "message_id": item["message_id"],
        "status": status,
        "step": item.get("step"),
        "error": error,
        "reason": _reason(error, status, item.get("reason"))
        if status in ("quarantined", "unroutable", "failed")
        else None,
        "execution_arn": item.get("execution_arn"),
        "received_at": item.get("received_at"),
        "updated_at": item.get("updated_at"),
        "recipients": len(item.get("recipients") or []),
        "unroutable_recipients": int(item.get("unroutable_recipients") or 0),
        "routed_by": item.get("envelope_source"),
        "delivered_at": item.get("delivered_at"),
        "latency_ms": round((delivered - received).total_seconds() * 1000) if received and delivered else None,
        "replays": int(item.get("replays") or 0),
    }


def _records(target: Target, status: str | None, since: dt.datetime | None) -> Iterator[dict[str, Any]]:
    ddb = target.client("dynamodb")
    table = target.name("StatusTableName")
    if status is not None:
        # The by-status index (status, updated_at) answers one status without a scan.
        key = "#s = :s" + (" AND updated_at >= :since" if since else "")
        values: dict[str, Any] = {":s": {"S": status}}
        if since:
            values[":since"] = {"S": _iso(since)}
        pages = ddb.get_paginator("query").paginate(
            TableName=table,
            IndexName="by-status",
            KeyConditionExpression=key,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )
    else:
        pages = ddb.get_paginator("scan").paginate(TableName=table)
    for page in pages:
        for raw in page.get("Items", []):
            yield from_item(raw)


def list_emails(
    target: Target,
    *,
    status: str | None = None,
    since: dt.timedelta | None = None,
    step: str | None = None,
    error: str | None = None,
) -> list[dict[str, Any]]:
    """Status records, newest first, filtered by status, age, failing step and error name."""
    if status is not None and status not in STATUSES:
        raise OperatorError(f"status must be one of {', '.join(STATUSES)}")
    cutoff = dt.datetime.now(dt.UTC) - since if since else None
    rows = []
    for item in _records(target, status, cutoff):
        row = email_row(item)
        updated = _parse_time(row["updated_at"]) or _parse_time(row["received_at"])
        if cutoff and (updated is None or updated < cutoff):
            continue
        if step and (row["step"] or "").lower() != step.lower():
            continue
        if error and row["error"] != error:
            continue
        rows.append(row)
    return sorted(rows, key=lambda r: str(r["updated_at"] or r["received_at"] or ""), reverse=True)


# ---------------------------------------------------------------------------- history


def execution_arn_for(target: Target, reference: str) -> str:
    """An execution ARN from an ARN, or from an SES message id (its latest execution, per the status record)."""
    if reference.startswith("arn:"):
        return reference
    if not is_ses_message_id(reference):
        raise OperatorError(f"{reference!r} is neither an execution ARN nor an SES message id")
    return _latest_execution_arn(target, reference, _record(target, reference))


def _latest_execution_arn(target: Target, message_id: str, record: dict[str, Any] | None) -> str:
    """The status record's execution ARN, else the one named by the SES message id."""
    arn = record.get("execution_arn") if record else None
    return str(arn) if arn else lifecycle.execution_arn(target.name("StateMachineArn"), message_id)


def status_record(target: Target, message_id: str) -> dict[str, Any]:
    """An email's status record (every attribute), or an error naming the unknown id."""
    record = _record(target, message_id)
    if record is None:
        raise OperatorError(f"no email {message_id}")
    return record


def _events(target: Target, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in target.client("stepfunctions").get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def history(target: Target, reference: str) -> dict[str, Any]:
    """The execution's timeline as the console shows it: states with attempts, durations, errors, redrives."""
    return history_and_events(target, reference)[0]


def history_and_events(
    target: Target, reference: str, *, record: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``history`` and the raw events it was made from (boto3's HistoryEvent shape: the console draws them).

    ``record``: the email's status record when the caller has read it already (``reference`` is then its id).
    """
    arn = _latest_execution_arn(target, reference, record) if record else execution_arn_for(target, reference)
    sfn = target.client("stepfunctions")
    try:
        described = sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        raise NoExecutionError(f"no execution {arn}") from None
    events = _events(target, arn)
    timeline: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    failed_at: dt.datetime | None = None
    for event in events:
        kind, at = event["type"], event["timestamp"]
        if "stateEnteredEventDetails" in event:
            current = {"state": event["stateEnteredEventDetails"]["name"], "entered": at, "attempts": 0, "errors": []}
            failed_at = None
            timeline.append(current)
        elif kind in _ATTEMPTS and current is not None:
            current["attempts"] += 1
            if failed_at is not None:  # the Retry's backoff: from a failed attempt to the next one
                current["waited_ms"] = current.get("waited_ms", 0) + int((at - failed_at).total_seconds() * 1000)
                failed_at = None
        elif kind in _ATTEMPT_FAILURES and current is not None:
            current["errors"].append(_error_of(event) or {"error": kind, "cause": None})
            failed_at = at
        elif "stateExitedEventDetails" in event and current is not None:
            current["exited"] = at
            current["duration_ms"] = int((at - current["entered"]).total_seconds() * 1000)
        elif kind == "ExecutionRedriven":
            timeline.append({"state": "(redriven)", "entered": at, "attempts": 0, "errors": []})
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted") and current is not None:
            # The execution's own end repeats the last attempt's error: one error per attempt, and this apart.
            current["execution_error"] = _error_of(event)
    simplified = [
        {
            "id": e["id"],
            "timestamp": e["timestamp"].isoformat() if hasattr(e["timestamp"], "isoformat") else e["timestamp"],
            "type": e["type"],
            **({"state": e["stateEnteredEventDetails"]["name"]} if "stateEnteredEventDetails" in e else {}),
            **({"state": e["stateExitedEventDetails"]["name"]} if "stateExitedEventDetails" in e else {}),
            **_error_of(e),
        }
        for e in events
    ]
    for step in timeline:
        for key in ("entered", "exited"):
            if key in step and hasattr(step[key], "isoformat"):
                step[key] = step[key].isoformat()
    summary = {
        "execution_arn": arn,
        "status": described["status"],
        "redrive_count": int(described.get("redriveCount", 0)),
        "start_date": described["startDate"].isoformat(),
        "stop_date": described["stopDate"].isoformat() if described.get("stopDate") else None,
        "states": timeline,
        "events": simplified,
    }
    return summary, events


def _error_of(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict) and "error" in value:
            return {"error": value.get("error"), "cause": _short_cause(value.get("cause"))}
    return {}


def _short_cause(cause: str | None) -> str | None:
    """The error message of a Lambda error cause (not its stack trace)."""
    if not cause:
        return None
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause[:500]
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])[:500]
    return cause[:500]


# ---------------------------------------------------------------------------- replay


def _statuses(target: Target) -> DynamoStatusStore:
    return DynamoStatusStore(target.name("StatusTableName"), target.client("dynamodb"))


def _workflow(target: Target) -> StepFunctionsWorkflow:
    return StepFunctionsWorkflow(target.name("StateMachineArn"), target.client("stepfunctions"))


def _record(target: Target, message_id: str) -> dict[str, Any] | None:
    found = target.client("dynamodb").get_item(
        TableName=target.name("StatusTableName"), Key={"message_id": {"S": message_id}}, ConsistentRead=True
    )
    return from_item(found["Item"]) if "Item" in found else None


def _replay_one(target: Target, message_id: str, *, restart: bool, to: Sequence[str], dry_run: bool) -> replaying.Plan:
    """Plan (and unless ``dry_run``, carry out) one email's replay: the shipped replay policy, over AWS."""
    record = _record(target, message_id)
    workflow = _workflow(target)
    execution = workflow.describe(_latest_execution_arn(target, message_id, record))
    now = dt.datetime.now(dt.UTC)
    chosen = replaying.plan(message_id, record, execution, now=now, restart=restart, to=to)
    if dry_run or chosen.action == "skipped":
        return chosen
    received_at = str((record or {}).get("received_at") or _iso(now))
    if to:
        return _reroute(target, workflow, chosen, to, never_ran=execution is None, received_at=received_at)
    return replaying.apply(
        chosen,
        executions=workflow,
        records=_statuses(target),
        now=now,
        original_input=lambda: _original_input(target, message_id, received_at),
    )


def _reroute(
    target: Target,
    workflow: StepFunctionsWorkflow,
    chosen: replaying.Plan,
    to: Sequence[str],
    *,
    never_ran: bool,
    received_at: str,
) -> replaying.Plan:
    """State the recipients on the status record first (Parse reads them there), then start an execution.

    An email the sweep found never had an execution: it gets one under its own name. One that ended
    Unroutable is restarted as ``<id>-r<N>``.
    """
    statuses = _statuses(target)
    now = dt.datetime.now(dt.UTC)
    if not statuses.reroute(chosen.message_id, recipients=list(to), now=_iso(now)):
        return dataclasses.replace(chosen, action="skipped", reason="no longer unroutable")
    payload = _original_input(target, chosen.message_id, received_at)
    arn = workflow.start_named(chosen.message_id, payload) if never_ran else None
    if arn is None:
        previous = workflow.input_of(chosen.execution_arn) if chosen.execution_arn else None
        arn = replaying.restart(chosen.message_id, previous or payload, workflow)
    statuses.mark_restarted(chosen.message_id, execution_arn=arn, now=_iso(now))
    return dataclasses.replace(chosen, execution_arn=arn)


def _original_input(target: Target, message_id: str, received_at: str) -> str:
    """The input the Starter would have given the email's execution."""
    return json.dumps(
        {
            "message_id": message_id,
            "bucket": target.name("IncomingBucketName"),
            "key": target.names.get("IncomingPrefix", "inbound/") + message_id,
            "received_at": received_at,
        },
        separators=(",", ":"),
    )


def check_addresses(addresses: Sequence[str]) -> list[str]:
    """Addresses an operator routes an email to: each an address, none longer than RFC 5321 allows."""
    for address in addresses:
        local, at, domain = address.rpartition("@")
        if not (local and at and domain) or len(address) > MAX_ADDRESS_LENGTH or any(c.isspace() for c in address):
            raise OperatorError(f"{address!r} is not an email address")
    return list(dict.fromkeys(addresses))


def sweep(
    target: Target,
    *,
    older_than: dt.timedelta = dt.timedelta(minutes=15),
    lookback: dt.timedelta = dt.timedelta(hours=48),
) -> list[str]:
    """What the Watchdog's sweep does, now: stored emails without a status record become unroutable (no-envelope)."""
    return sweep_unenveloped(
        objects=S3BlobStore(target.client("s3")),
        status=_statuses(target),
        bucket=target.name("IncomingBucketName"),
        prefix=target.names.get("IncomingPrefix", "inbound/"),
        now=dt.datetime.now(dt.UTC),
        older_than=older_than,
        lookback=lookback,
    )


def replay(
    target: Target,
    message_ids: list[str],
    *,
    restart: bool = False,
    dry_run: bool = False,
    rate: float = 10.0,
    progress: Callable[[str], None] | None = None,
    to: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Replay each email (at most ``rate`` per second); ``dry_run`` only says what would happen.

    ``to`` routes unroutable emails to those addresses (an operator's envelope, recorded as such).
    """
    recipients = check_addresses(to)
    results = []
    interval = 1.0 / rate if rate > 0 else 0.0
    for n, message_id in enumerate(message_ids, 1):
        started = time.monotonic()
        plan = _replay_one(target, message_id, restart=restart, to=recipients, dry_run=dry_run)
        results.append({"message_id": plan.message_id, "action": plan.action, "reason": plan.reason})
        if progress:
            progress(f"[{n}/{len(message_ids)}] {message_id} {plan.action}: {plan.reason}")
        if plan.action != "skipped" and not dry_run:
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return results


# ---------------------------------------------------------------------------- stats


def status_records(target: Target) -> list[dict[str, Any]]:
    """Every email's status record (one Scan): for ``stats`` and ``activity`` asked together."""
    return list(_records(target, None, None))


def stats(
    target: Target, *, since: dt.timedelta | None = None, records: Iterable[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Counts by outcome, reasons and failing steps, emails in flight, end-to-end latency percentiles.

    ``records``: the status records already read (``status_records``); else they are read here.
    """
    cutoff = dt.datetime.now(dt.UTC) - since if since else None
    counts: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    failed: dict[str, Counter[str]] = defaultdict(Counter)
    latencies: list[float] = []
    for item in _records(target, None, None) if records is None else records:
        received = _parse_time(item.get("received_at")) or _parse_time(item.get("updated_at"))
        if cutoff and (received is None or received < cutoff):
            continue
        status = str(item.get("status", "received"))
        counts[status] += 1
        if status == "quarantined":
            quarantined[_reason(item.get("error"), status) or "unknown"] += 1
        elif status == "failed":
            failed[str(item.get("step") or "unknown")][str(item.get("error") or "unknown")] += 1
        elif status == "delivered":
            delivered = _parse_time(item.get("delivered_at"))
            if received and delivered:
                latencies.append((delivered - received).total_seconds() * 1000)
    return {
        "received": sum(counts.values()),
        "delivered": counts["delivered"],
        "quarantined": dict(quarantined),
        "unroutable": counts["unroutable"],
        "duplicate": counts["duplicate"],
        "failed": {step: dict(errors) for step, errors in failed.items()},
        "in_flight": counts["received"],
        "latency_ms": _percentiles(latencies),
    }


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    if len(values) == 1:
        return {"p50": round(values[0], 1), "p95": round(values[0], 1)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1)}


def activity(
    target: Target,
    *,
    window: dt.timedelta = dt.timedelta(hours=1),
    buckets: int = 12,
    records: Iterable[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Throughput and latency over ``window`` in ``buckets`` equal slices, oldest first.

    Each slice: emails received in it, emails delivered in it, and the p50 latency of those delivered.
    ``records``: the status records already read (``status_records``); else they are read here.
    """
    now = dt.datetime.now(dt.UTC)
    start = now - window
    width = window / buckets
    received = [0] * buckets
    delivered = [0] * buckets
    latencies: list[list[float]] = [[] for _ in range(buckets)]

    def slot(moment: dt.datetime | None) -> int | None:
        if moment is None or not start <= moment <= now:
            return None
        return min(int((moment - start) / width), buckets - 1)

    for item in _records(target, None, None) if records is None else records:
        got, done = _parse_time(item.get("received_at")), _parse_time(item.get("delivered_at"))
        if (n := slot(got)) is not None:
            received[n] += 1
        if done is not None and (n := slot(done)) is not None:
            delivered[n] += 1
            if got is not None:
                latencies[n].append((done - got).total_seconds() * 1000)
    return [
        {
            "start": _iso(start + width * n),
            "received": received[n],
            "delivered": delivered[n],
            "latency_p50_ms": _percentiles(latencies[n])["p50"],
        }
        for n in range(buckets)
    ]
