"""RedriveExecution for the local stack — the one Step Functions API moto lacks (it answers 500).

What AWS does (and what is emulated here): a FAILED, TIMED_OUT or ABORTED STANDARD execution,
stopped less than 14 days ago, resumes at the state that did not finish, with the input that state
had; the execution keeps its ARN and name, ``redriveCount`` goes up, its history gets an
``ExecutionRedriven`` event and continues after the events of the earlier run. States that had
succeeded are not run again. ``DescribeExecution`` shows ``redriveCount`` and ``redriveDate``.

How: the failed state is the last one entered and never exited in the history; a copy of the
state machine whose ``StartAt`` is that state runs with that input on the *same* moto execution
object, and the history seen through the API is the earlier events, the redrive event, then the
new run's events renumbered after them. Not emulated: ``redriveStatus`` reasons beyond the
checks below, Map runs, client tokens. The three moto methods this needs are replaced in
``moto_patches`` (patch 5), which calls the functions here.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from mailroom.adapters.stepfunctions import unfinished_state
from mailroom.lifecycle import within_redrive_window
from moto.core.exceptions import AWSError
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse


class ExecutionNotRedrivable(AWSError):
    """The error AWS answers for an execution that cannot be redriven."""

    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


_REDRIVABLE = (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.ABORTED)


def failed_state(events: list[dict[str, Any]]) -> tuple[str, str]:
    """``(name, input)`` of the last state entered and never exited."""
    state = unfinished_state(events)
    if state is None:
        raise ExecutionNotRedrivable("the execution has no unfinished state to resume")
    return state


def redrive(backend: StepFunctionsParserBackend, execution_arn: str) -> dt.datetime:
    """Resume ``execution_arn`` at its failed state (same ARN, history appended); the redrive date."""
    execution: Any = backend.describe_execution(execution_arn)
    if execution.exec_status not in _REDRIVABLE:
        status = getattr(execution.exec_status, "value", execution.exec_status)
        raise ExecutionNotRedrivable(f"Execution is {status}: only failed ones can be redriven")
    now = dt.datetime.now(tz=dt.UTC)
    if execution.stop_date is not None and not within_redrive_window(execution.stop_date, now):
        raise ExecutionNotRedrivable("Execution stopped more than 14 days ago")
    earlier = _history(execution)
    state, state_input = failed_state(earlier)
    count = getattr(execution, "redrive_count", 0) + 1
    earlier.append(
        {
            "timestamp": now,
            "type": "ExecutionRedriven",
            "id": len(earlier) + 1,
            "previousEventId": len(earlier),
            "executionRedrivenEventDetails": {"redriveCount": count},
        }
    )
    definition = json.loads(execution.state_machine.definition)
    definition["StartAt"] = state
    machine = copy.deepcopy(
        execution.state_machine,
        {id(execution.state_machine.executions): [], id(execution.state_machine.backend): backend},
    )
    machine.definition = json.dumps(definition)
    execution.state_machine = machine
    execution.input_data = json.loads(state_input)
    execution.redrive_count = count
    execution.redrive_date = now
    execution.earlier_events = earlier
    execution.error = execution.cause = execution.stop_date = None
    execution.exec_worker = None
    execution.start()
    return now


def _history(execution: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = list(execution.to_history_output()["events"])
    return events


def history_with_earlier_runs(original: Callable[[Execution], Any]) -> Callable[[Execution], Any]:
    """``Execution.to_history_output``: the earlier runs' events, then this run's renumbered after them."""

    def to_history_output(self: Execution) -> Any:
        current = original(self)
        earlier: list[dict[str, Any]] | None = getattr(self, "earlier_events", None)
        if not earlier:
            return current
        offset = len(earlier) - 1  # the new run's ExecutionStarted (id 1) is dropped: ExecutionRedriven is its id
        renumbered = []
        for event in current["events"]:
            if event["type"] == "ExecutionStarted":
                continue  # a redrive is not a new start: ExecutionRedriven stands for it
            event = dict(event)
            event["id"] = event["id"] + offset
            event["previousEventId"] = max(offset, event.get("previousEventId", 0) + offset)
            renumbered.append(event)
        return {**current, "events": [*earlier, *renumbered]}

    return to_history_output


def describe_with_redrive(original: Callable[[StepFunctionResponse], Any]) -> Callable[[StepFunctionResponse], Any]:
    """``DescribeExecution`` with ``redriveCount`` and ``redriveDate`` once redriven."""

    def describe_execution(self: StepFunctionResponse) -> Any:
        result = original(self)
        execution: Any = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        count = getattr(execution, "redrive_count", None)
        if count is not None and isinstance(result.result, dict):
            result.result["redriveCount"] = count
            result.result["redriveDate"] = execution.redrive_date
        return result

    return describe_execution


def redrive_response(self: StepFunctionResponse) -> Any:
    """``RedriveExecution``, as moto's response classes answer an action."""
    from moto.core.responses import ActionResult

    backend = self.stepfunction_backend
    if not isinstance(backend, StepFunctionsParserBackend):
        raise ExecutionNotRedrivable("redrive needs the executing backend (execute_state_machine)")
    return ActionResult({"redriveDate": redrive(backend, self._get_param("executionArn"))})
