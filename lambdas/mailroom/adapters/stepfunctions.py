"""Workflow on AWS Step Functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from mailroom.adapters.aws_errors import error_code, translated_workflow_errors
from mailroom.lifecycle import execution_arn
from mailroom.replay import Execution

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


def unfinished_state(events: list[Any]) -> tuple[str, str] | None:
    """``(name, input)`` of the last state entered and not exited, in event-id order; None if none."""
    entered: dict[str, str] = {}
    order: list[str] = []
    for event in sorted(events, key=lambda e: e["id"]):
        if "stateEnteredEventDetails" in event:
            details = event["stateEnteredEventDetails"]
            entered[details["name"]] = details.get("input", "{}")
            order.append(details["name"])
        elif "stateExitedEventDetails" in event:
            entered.pop(event["stateExitedEventDetails"]["name"], None)
    name = next((n for n in reversed(order) if n in entered), None)
    return (name, entered[name]) if name is not None else None


class StepFunctionsWorkflow:
    """Starts executions of one state machine, named so that a duplicate start is harmless."""

    def __init__(self, state_machine_arn: str, client: SFNClient | None = None) -> None:
        self._arn = state_machine_arn
        self._client: SFNClient = client if client is not None else boto3.client("stepfunctions")

    def execution_arn(self, name: str) -> str:
        """The ARN execution ``name`` of this state machine has (or will have)."""
        return execution_arn(self._arn, name)

    def start(self, name: str, payload: Mapping[str, Any]) -> tuple[str, bool]:
        """StartExecution; ``ExecutionAlreadyExists`` means an earlier delivery of the event started it."""
        try:
            with translated_workflow_errors(operation="StartExecution"):
                response = self._client.start_execution(
                    stateMachineArn=self._arn, name=name, input=json.dumps(dict(payload), separators=(",", ":"))
                )
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return execution_arn(self._arn, name), False
            raise
        return response["executionArn"], True

    def start_named(self, name: str, payload: str) -> str | None:
        """StartExecution with a raw JSON input; None when the name is taken."""
        try:
            with translated_workflow_errors(operation="StartExecution"):
                response = self._client.start_execution(stateMachineArn=self._arn, name=name, input=payload)
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return None
            raise
        return response["executionArn"]

    def describe(self, execution_arn: str) -> Execution | None:
        """DescribeExecution as replay reads it; None for an execution that does not exist."""
        try:
            with translated_workflow_errors(operation="DescribeExecution"):
                described = self._client.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if error_code(exc) == "ExecutionDoesNotExist":
                return None
            raise
        return Execution(
            arn=execution_arn,
            status=str(described["status"]),
            stopped=described.get("stopDate"),
            redrivable=described.get("redriveStatus", "REDRIVABLE") == "REDRIVABLE",
            not_redrivable_because=described.get("redriveStatusReason"),
        )

    def redrive(self, execution_arn: str) -> str | None:
        """RedriveExecution; None when it resumed, else Step Functions' reason for refusing."""
        try:
            with translated_workflow_errors(operation="RedriveExecution"):
                self._client.redrive_execution(executionArn=execution_arn)
        except ClientError as exc:
            if error_code(exc) == "ExecutionNotRedrivable":
                return str(exc.response.get("Error", {}).get("Message") or "not redrivable")
            raise
        return None

    def input_of(self, execution_arn: str) -> str | None:
        """DescribeExecution's input; None for an execution that does not exist (any more)."""
        if not execution_arn:
            return None
        try:
            with translated_workflow_errors(operation="DescribeExecution"):
                return self._client.describe_execution(executionArn=execution_arn)["input"]
        except ClientError as exc:
            if error_code(exc) == "ExecutionDoesNotExist":
                return None
            raise


class StepFunctionsHistory:
    """ExecutionHistory from GetExecutionHistory (newest first: the failed state is near the end)."""

    def __init__(self, client: SFNClient | None = None) -> None:
        self._client: SFNClient = client if client is not None else boto3.client("stepfunctions")

    def failed_step(self, execution_arn: str) -> str | None:
        """The last state entered and not exited (events sorted by id: not every endpoint honours reverseOrder)."""
        events: list[Any] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
            if token:
                kwargs["nextToken"] = token
            with translated_workflow_errors(operation="GetExecutionHistory"):
                page = self._client.get_execution_history(**kwargs)
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                break
        state = unfinished_state(events)
        return state[0] if state else None
