"""The Lambda runtime of local mode: moto's Lambda invoke, dispatched in-process to our handlers.

moto would run a function in Docker; here ``LambdaFunction.invoke`` (replaced in ``moto_patches``,
in this process, where the moto server runs) calls ``LocalRuntime.invoke``: an import of the
function's ``Handler`` from its ``CodeUri``. Results
and errors come back in the shape the Python runtime gives them on AWS — an unhandled exception is
``X-Amz-Function-Error: Unhandled`` with ``{"errorMessage", "errorType", "requestId", "stackTrace"}``
— so the state machine's Retry and Catch see the same error names as in the cloud.

Functions share one process, so their environments are merged into ``os.environ`` once; a
variable two functions set differently is refused at start (it could not be emulated faithfully).

Each invocation runs on a thread of its own under the function's ``Timeout`` from the template. One
that runs past it is stopped (an exception raised in its thread at its next Python instruction) and
reported as the current Lambda runtimes report a timeout: ``errorType`` ``Sandbox.Timedout``, which
is what the state machine's Retry sees.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from mailroom_cli.local import moto_patches

Observer = Callable[["Invocation"], None]
Scope = Callable[["FunctionSpec"], AbstractContextManager[object]]


@dataclass(frozen=True)
class FunctionSpec:
    """One function as the template declares it."""

    logical_id: str
    name: str
    handler: str
    code_dir: str
    environment: Mapping[str, str]
    timeout: int = 3
    memory: int = 128
    arn: str = ""


@dataclass
class Invocation:
    """One call of a function, for progress output and tests."""

    function: FunctionSpec
    event: Any
    started: float
    duration_ms: float = 0.0
    error_type: str | None = None
    error_message: str | None = None
    result: Any = None


class SandboxTimedout(Exception):
    """The function ran past its timeout; reported as errorType ``Sandbox.Timedout``."""

    error_type = "Sandbox.Timedout"


class _Stopped(BaseException):
    """Raised inside a timed-out invocation's thread to stop it (not an Exception: handlers do not catch it)."""


def _stop(thread: threading.Thread) -> None:
    """Raise ``_Stopped`` in ``thread`` at its next Python instruction (CPython's PyThreadState_SetAsyncExc)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_Stopped))


@dataclass
class _Injected:
    """A fault an operator asked for: raise ``error`` on the next ``remaining`` calls (None: until healed).

    ``after``: raise once the handler has returned, so its side effects happened but its result is
    lost — a function that timed out or crashed after writing, which a retry must not write twice.
    """

    error: type[BaseException] | None
    remaining: int | None
    after: bool = False
    hang_seconds: float = 0.0  # run this long before the handler (a hung dependency): past the timeout, it times out


class _LambdaOutput:
    """``sys.stdout`` while the stack runs: what handlers print (JSON logs, EMF metrics) goes to a log.

    On AWS that output lands in CloudWatch Logs, not in anyone's terminal; here it goes to
    ``log_path`` so the terminal shows progress only. Other threads write through unchanged.
    """

    def __init__(self, original: Any, sink: Any) -> None:
        self.original = original
        self.sink = sink
        self.local = threading.local()

    def _target(self) -> Any:
        return self.sink if getattr(self.local, "in_lambda", False) else self.original

    def write(self, text: str) -> int:
        return int(self._target().write(text))

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


@dataclass
class LocalRuntime:
    """Function name → handler; installs itself into moto's Lambda backend."""

    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    observers: list[Observer] = field(default_factory=list)
    faults: dict[str, _Injected] = field(default_factory=dict)
    log_path: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    # Entered on the invocation's own thread around the handler: local/iam.py gives it the function's identity.
    scope: Scope = field(default=lambda _spec: contextlib.nullcontext())
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _undo_invoke: Callable[[], None] | None = None
    _output: _LambdaOutput | None = None

    def register(self, spec: FunctionSpec) -> None:
        """Make ``spec`` invocable by its function name."""
        self.functions[spec.name] = spec

    def merged_environment(self) -> dict[str, str]:
        """Every function's variables; a variable with two different values is an error."""
        merged: dict[str, str] = {}
        for spec in self.functions.values():
            for key, value in spec.environment.items():
                if key in merged and merged[key] != value:
                    raise ValueError(
                        f"{key} is {merged[key]!r} for one function and {value!r} for {spec.logical_id}: "
                        "local mode runs all functions in one process and cannot give them different values"
                    )
                merged[key] = value
        return merged

    def install(self) -> None:
        """Apply the environment, make the code importable, and take over moto's invoke."""
        os.environ.update(self.merged_environment())
        os.environ.update(self.overrides)  # local-only settings win over the template's (log level…)
        for spec in self.functions.values():
            if spec.code_dir not in sys.path:
                sys.path.insert(0, spec.code_dir)
        _forget_cold_start_state()
        if self.log_path is not None and self._output is None:
            self._output = _LambdaOutput(sys.stdout, open(self.log_path, "a", buffering=1))  # noqa: SIM115
            sys.stdout = self._output
            # Bind the handlers' log stream and EMF printing to the proxy now: whatever replaces
            # sys.stdout later (a test's CLI runner, say) must not receive Lambda output.
            for spec in self.functions.values():
                importlib.import_module(spec.handler.rpartition(".")[0])
            from aws_lambda_powertools.metrics.provider.cloudwatch_emf import cloudwatch

            cloudwatch.print = functools.partial(print, file=self._output)  # type: ignore[attr-defined]
            _bind_handler_logs(self._output)  # a logger imported under an earlier stack still points there
        _serialise_shared_metrics()
        if self._undo_invoke is None:
            self._undo_invoke = moto_patches.install(invoke=self.invoke)

    def uninstall(self) -> None:
        """Unregister the invoke hook (moto answers invokes itself again once no stack is left)."""
        if self._undo_invoke is not None:
            self._undo_invoke()
            self._undo_invoke = None
        if self._output is not None:
            from aws_lambda_powertools.metrics.provider.cloudwatch_emf import cloudwatch

            vars(cloudwatch).pop("print", None)
            if sys.stdout is self._output:
                sys.stdout = self._output.original
            _bind_handler_logs(self._output.original)
            self._output.sink.close()
            self._output = None

    def fail(
        self,
        step: str,
        error: type[BaseException] | None,
        times: int | None,
        *,
        after: bool = False,
        hang_seconds: float = 0.0,
    ) -> None:
        """Make ``step``'s function raise ``error`` on its next ``times`` calls (None: until healed).

        By default the error is raised before the handler runs; ``after=True`` raises it once the
        handler has returned (its side effects done, its result discarded). ``hang_seconds`` makes
        each of those calls wait that long first (``error`` None: then run normally), so one past the
        function's timeout ends as ``Sandbox.Timedout``.
        """
        spec = self.by_step(step)
        with self._lock:
            self.faults[spec.name] = _Injected(error, times, after, hang_seconds)

    def heal(self, step: str | None = None) -> None:
        """Stop injecting faults (into one step, or all)."""
        with self._lock:
            if step is None:
                self.faults.clear()
            else:
                self.faults.pop(self.by_step(step).name, None)

    def by_step(self, step: str) -> FunctionSpec:
        """The function of state ``step`` (``Archive`` → ``ArchiveFunction``)."""
        for spec in self.functions.values():
            if spec.logical_id.lower() in (step.lower(), f"{step.lower()}function"):
                return spec
        raise KeyError(f"no function for step {step!r}; known: {sorted(s.logical_id for s in self.functions.values())}")

    def invoke(self, name: str, body: str, response_headers: Any) -> bytes:
        """Run one invocation; the Python runtime's error shape on an unhandled exception."""
        spec = self.functions.get(name)
        if spec is None:
            raise KeyError(f"function {name} is not part of the local stack")
        event = json.loads(body) if body else {}
        call = Invocation(function=spec, event=event, started=time.time())
        request_id = str(uuid.uuid4())
        try:
            fault = self._take_fault(spec)
            call.result = self._run_within_timeout(spec, lambda: self._handle(spec, event, request_id, fault))
            if fault is not None and fault.error is not None and fault.after:
                raise fault.error(f"injected by `mailroom local fail --after` into {spec.logical_id} after it ran")
            payload = json.dumps(call.result)
        except Exception as exc:  # noqa: BLE001 - this *is* the runtime: every error becomes the error payload
            call.error_type = str(getattr(exc, "error_type", type(exc).__name__))
            call.error_message = str(exc)
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": call.error_type,
                    "requestId": request_id,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
            )
        call.duration_ms = (time.time() - call.started) * 1000
        for observer in self.observers:
            observer(call)
        return payload.encode()

    def _handle(self, spec: FunctionSpec, event: Any, request_id: str, fault: _Injected | None) -> Any:
        if fault is not None and fault.hang_seconds:
            deadline = time.monotonic() + fault.hang_seconds
            while time.monotonic() < deadline:
                time.sleep(0.01)  # short sleeps: a timeout stops the thread at the next instruction
        if fault is not None and fault.error is not None and not fault.after:
            raise fault.error(f"injected by `mailroom local fail` into {spec.logical_id}")
        with self.scope(spec):
            return _load(spec.handler)(event, _Context(spec, request_id))

    def _run_within_timeout(self, spec: FunctionSpec, handle: Callable[[], Any]) -> Any:
        """``handle()`` on a thread of its own; past the function's timeout it is stopped and times out."""
        outcome: dict[str, Any] = {}
        output = self._output

        def work() -> None:
            if output is not None:
                output.local.in_lambda = True
            try:
                outcome["result"] = handle()
            except _Stopped:
                pass
            except Exception as exc:  # noqa: BLE001 - handed to the caller as is
                outcome["error"] = exc
            finally:
                if output is not None:
                    output.local.in_lambda = False

        worker = threading.Thread(target=work, name=f"lambda:{spec.name}", daemon=True)
        worker.start()
        seconds = float(spec.timeout)
        worker.join(seconds)
        if worker.is_alive():
            _stop(worker)
            raise SandboxTimedout(f"RequestId: local Error: Task timed out after {seconds:.2f} seconds")
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("result")

    def _take_fault(self, spec: FunctionSpec) -> _Injected | None:
        """The fault this call must raise (one of its ``remaining`` is used up), if any."""
        with self._lock:
            fault = self.faults.get(spec.name)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self.faults[spec.name]
        return fault


def _bind_handler_logs(stream: Any) -> None:
    """Point the handlers' Powertools logger at ``stream`` (it keeps the stdout of its import time)."""
    module = sys.modules.get("mailroom.observability")
    handler = getattr(getattr(module, "logger", None), "registered_handler", None)
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)


_METRIC_METHODS = ("add_metric", "add_dimension", "add_metadata", "flush_metrics", "clear_metrics")


def _serialise_shared_metrics() -> None:
    """One lock around the handlers' shared Powertools metrics (a no-op once done for this process).

    On Lambda each process runs one invocation at a time; here every function shares one process and
    ``mailroom.observability.metrics``, so concurrent invocations add to and flush the same metric set.
    Unlocked, one invocation could empty it between another's emptiness check and its serialisation,
    and that one failed with ``SchemaValidationError`` (seen about once in 200 emails on a fast stack).
    """
    import importlib

    provider = importlib.import_module("mailroom.observability").metrics.provider
    if getattr(provider, "_local_mode_lock", None) is not None:
        return
    lock = threading.RLock()
    provider._local_mode_lock = lock
    for name in _METRIC_METHODS:
        method = getattr(provider, name)

        def locked(*args: Any, _method: Callable[..., Any] = method, **kwargs: Any) -> Any:
            with lock:
                return _method(*args, **kwargs)

        setattr(provider, name, functools.wraps(method)(locked))


def _forget_cold_start_state() -> None:
    """A new stack is a new cold start: drop the clients, settings and adapters built before (composition root)."""
    for name, module in list(sys.modules.items()):
        if name == "mailroom.composition":
            module.reset()
        elif name == "mailroom.observability" and os.environ.get("POWERTOOLS_METRICS_NAMESPACE"):
            # Imported before the template's environment was applied: it read no namespace then.
            module.metrics.namespace = os.environ["POWERTOOLS_METRICS_NAMESPACE"]


def _load(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler.rpartition(".")
    module = importlib.import_module(module_name)
    function: Callable[[Any, Any], Any] = getattr(module, attribute)
    return function


class _Context:
    """The parts of the Lambda context object handlers and Powertools read."""

    def __init__(self, spec: FunctionSpec, request_id: str) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left of the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))
