"""One Lambda execution environment of local mode: a process that runs one function's handler.

``LocalRuntime`` forks each environment from a server process that imported boto3 once
(``runtime._EnvironmentProcess``) and runs ``serve`` in it with the function's environment, as Lambda would
set it: the template's variables, ``_HANDLER``, ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_*``,
the region, and the credentials of the function's own role (local IAM) or the local
administrator's. boto3 finds the emulator through ``AWS_ENDPOINT_URL``, over HTTP, as any client would.

Init: the variables are set, then the handler's module is imported once (a cold start); the parent
hears ``ready`` or the import's error (``Runtime.ImportModuleError``). Then one invocation at a
time, as on Lambda: a request (the event, the request id, the function's timeout, an injected
fault) and its reply: the result, or the Python runtime's error shape (``errorType``,
``errorMessage``, ``stackTrace``). What the handler prints (logs, EMF metrics) goes to this
process's stdout and stderr, pointed at the Lambda log, as CloudWatch Logs would receive it.

A timeout is the parent's business: it kills this process (Lambda resets the environment), so
nothing here watches the clock except the context's ``get_remaining_time_in_millis``.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
import time
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any, Final

# A Python file each environment runs before importing its handler: test doubles (the reliability
# suite's mutants), as a Lambda layer's wrapper would. Local mode only; unset, nothing runs.
PRELOAD_VARIABLE: Final = "MAILROOM_LOCAL_PRELOAD"


class Context:
    """The parts of the Lambda context object handlers and Powertools read."""

    def __init__(self, request_id: str, timeout_s: float) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("MAILROOM_LAMBDA_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left of the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_type_of(error: type[BaseException]) -> str:
    """The ``errorType`` Lambda reports for an exception of class ``error`` (its ``error_type``, else its name)."""
    return str(getattr(error, "error_type", error.__name__))


def error_reply(
    error_type: str, message: str, request_id: str | None = None, trace: list[str] | None = None
) -> dict[str, Any]:
    """The Python runtime's error payload."""
    payload: dict[str, Any] = {"errorMessage": message, "errorType": error_type, "stackTrace": trace or []}
    if request_id is not None:
        payload["requestId"] = request_id
    return {"error": payload}


def invoke(handler: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Run one invocation: the injected fault first (a hang, an error), then the handler."""
    request_id = str(request["request_id"])
    fault = request.get("fault") or {}
    if fault.get("hang_seconds"):
        time.sleep(float(fault["hang_seconds"]))
    if fault.get("error_type"):
        return error_reply(str(fault["error_type"]), str(fault.get("message", "")), request_id)
    try:
        result = handler(request["event"], Context(request_id, float(request["timeout_s"])))
    except Exception as exc:  # noqa: BLE001 - this *is* the runtime: every error becomes the error payload
        return error_reply(error_type_of(type(exc)), str(exc), request_id, traceback.format_tb(exc.__traceback__))
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return error_reply("Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id)
    return {"result": result}


def serve(
    connection: Connection, handler_name: str, code_dir: str, environment: Mapping[str, str], log: str | None
) -> None:
    """Init, then answer invocations until the parent hangs up."""
    os.environ.clear()
    os.environ.update(environment)
    sys.path.insert(0, code_dir)
    if log is not None:
        descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(descriptor, 1)
        os.dup2(descriptor, 2)
        os.close(descriptor)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # lines reach the log as written
    module_name, _, attribute = handler_name.rpartition(".")
    try:
        if os.environ.get(PRELOAD_VARIABLE):
            runpy.run_path(os.environ[PRELOAD_VARIABLE])
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as Lambda reports a failed init
        connection.send(error_reply("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"))
        return
    connection.send({"ready": True})
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        connection.send(invoke(handler, request))
