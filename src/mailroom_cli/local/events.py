"""EventBridge's "Step Functions Execution Status Change" events, emulated for the local stack.

moto's interpreter emits no events, so a watcher polls executions and, when one reaches a status a
template rule asks for, invokes the rule's function (through the Lambda API) with the event shape
EventBridge delivers. A redriven execution that fails again is a new event (its redrive count differs).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from typing import Any

from mailroom_cli.local.provision import StatusChangeRule

log = logging.getLogger(__name__)

# EventBridge delivers within seconds; each round lists the executions in the rules' statuses, whose
# cost grows with every execution the stack has seen: once a second is prompt enough for the Recorder.
POLL_SECONDS = 1.0


def _millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if isinstance(value, dt.datetime) else None


def status_change_event(described: dict[str, Any], *, region: str, account: str) -> dict[str, Any]:
    """The EventBridge event for one DescribeExecution result."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [described["executionArn"]],
        "detail": {
            "executionArn": described["executionArn"],
            "stateMachineArn": described["stateMachineArn"],
            "name": described["name"],
            "status": described["status"],
            "startDate": _millis(described.get("startDate")),
            "stopDate": _millis(described.get("stopDate")),
            "input": described.get("input"),
            "output": described.get("output"),
            "error": described.get("error"),
            "cause": described.get("cause"),
            "redriveCount": described.get("redriveCount", 0),
        },
    }


class StatusChangeWatcher:
    """Polls executions; delivers each matching status change once to each rule's function."""

    def __init__(self, rules: list[StatusChangeRule], *, sfn: Any, lambda_client: Any, region: str, account: str):
        self._rules = rules
        self._sfn = sfn
        self._lambda = lambda_client
        self._region = region
        self._account = account
        self._delivered: set[tuple[str, str, str]] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._machines = sorted({m for r in rules for m in r.state_machine_arns})

    def start(self, machines: list[str]) -> None:
        """Watch ``machines`` (all rules' machines when they name none)."""
        if not self._machines:
            self._machines = machines
        self._thread = threading.Thread(target=self._run, name="status-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            try:
                self.poll_once()
            except Exception:
                log.exception("status-change watcher round failed")

    def poll_once(self) -> int:
        """Deliver what changed since the last round; how many events were delivered."""
        delivered = 0
        # Only the statuses the rules ask for: listing every execution each round would cost more
        # with every email the stack has seen (a thousand delivered ones slow all the others down).
        wanted = {s for r in self._rules for s in r.statuses} if all(r.statuses for r in self._rules) else set()
        filters: list[dict[str, str]] = [{"statusFilter": s} for s in sorted(wanted)] or [{}]
        for machine in self._machines:
            for status_filter in filters:
                pages = self._sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, **status_filter)
                for page in pages:
                    for execution in page["executions"]:
                        delivered += self._maybe_deliver(execution)
        return delivered

    def _maybe_deliver(self, execution: dict[str, Any]) -> int:
        status = execution["status"]
        wanted = [r for r in self._rules if not r.statuses or status in r.statuses]
        if not wanted:
            return 0
        # A redriven execution that fails again stops again: the stop date tells the runs apart.
        key = (execution["executionArn"], status, str(execution.get("stopDate")))
        if key in self._delivered:
            return 0
        self._delivered.add(key)
        described = self._sfn.describe_execution(executionArn=execution["executionArn"])
        event = status_change_event(described, region=self._region, account=self._account)
        for rule in wanted:
            self._lambda.invoke(FunctionName=rule.function, InvocationType="Event", Payload=json.dumps(event).encode())
        return len(wanted)
