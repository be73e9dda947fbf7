"""One line per email as it moves through the steps, and one when it reaches its outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mailroom_cli.local.runtime import Invocation

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class Progress:
    """Prints step results as the runtime reports them and outcomes as executions end."""

    def __init__(self, write: Callable[[str], None], *, status_table: str, state_machine_arn: str) -> None:
        self._write = write
        self._status_table = status_table
        self._machine = state_machine_arn
        self._seen: set[str] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.outcomes: dict[str, dict[str, Any]] = {}

    def on_invocation(self, call: Invocation) -> None:
        """Runtime observer: one line per step run (the Starter's batches are summarised)."""
        step = call.function.logical_id.removesuffix("Function")
        if step == "Starter":
            return
        event = call.event if isinstance(call.event, dict) else {}
        message_id = str(event.get("message_id", "?"))
        mark = "ok" if call.error_type is None else call.error_type
        self._write(f"{_now()}  {message_id[:12]}  {step:<8} {mark}  {call.duration_ms:.0f} ms")

    def start(self, client: Callable[[str], Any]) -> None:
        """Watch executions end (polling; moto emits no events)."""
        sfn, ddb = client("stepfunctions"), client("dynamodb")

        def run() -> None:
            while not self._stopping.wait(0.5):
                try:
                    self._poll(sfn, ddb)
                except Exception:  # noqa: BLE001, S112 - progress output must never stop the stack
                    continue

        self._thread = threading.Thread(target=run, name="progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2)

    def _poll(self, sfn: Any, ddb: Any) -> None:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self._machine):
            for execution in page["executions"]:
                name, status = execution["name"], execution["status"]
                if status not in TERMINAL or name in self._seen:
                    continue
                self._seen.add(name)
                record = ddb.get_item(TableName=self._status_table, Key={"message_id": {"S": name}}).get("Item", {})
                outcome = {k: next(iter(v.values())) for k, v in record.items()}
                if status != "SUCCEEDED":
                    outcome["status"] = "failed"
                    described = sfn.describe_execution(executionArn=execution["executionArn"])
                    outcome["error"] = described.get("error")
                self.outcomes[name] = outcome
                detail = outcome.get("error") or ""
                self._write(f"{_now()}  {name[:12]}  => {outcome.get('status', status.lower())} {detail}".rstrip())


def _now() -> str:
    return time.strftime("%H:%M:%S")
