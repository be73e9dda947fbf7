"""The Lambda runtime of local mode: moto's Lambda invoke, run by our handlers in processes of their own.

moto would run a function in Docker; here ``LambdaFunction.invoke`` (replaced in ``moto_patches``,
in this process, where the moto server runs) calls ``LocalRuntime.invoke``, which hands the event
to an execution environment of that function: a Python process (``lambda_worker``) that imported
the function's ``Handler`` from its ``CodeUri`` once (its cold start) and runs one invocation at a
time, as on Lambda. Each environment has its own function's variables only, its role's
credentials (local IAM) and the emulator's endpoint; its module state, clients and Powertools
metrics are its own. A function scales out to ``max_environments`` environments
(``$MAILROOM_LOCAL_LAMBDA_ENVIRONMENTS``, default 2: measured on two cores, more only added cold
starts and CPU); an invocation finding all of them busy waits for one (Lambda would throttle at the
account's concurrency, which the ASL retries; a queue suits one developer's machine better).
``warm`` starts one environment per function ahead of the first email.

Results and errors come back in the shape the Python runtime gives them on AWS — an unhandled
exception is ``X-Amz-Function-Error: Unhandled`` with ``{"errorMessage", "errorType",
"requestId", "stackTrace"}`` — so the state machine's Retry and Catch see the same error names as in
the cloud. An invocation that runs past the function's ``Timeout`` from the template is reported as
the current Lambda runtimes report it (``errorType`` ``Sandbox.Timedout``) and its environment is
killed, as Lambda resets one; a process that dies mid-invocation is ``Runtime.ExitError``.

Why processes (docs/benchmarks.md): the emulator is one Python process on one GIL; handlers in it
took its CPU (botocore's client side of every call, the steps' own work). In processes of their
own they use the machine's other cores, and they are isolated as Lambda isolates them.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import multiprocessing.context
import multiprocessing.popen_forkserver
import multiprocessing.spawn
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mailroom_cli.local import lambda_worker, moto_patches

Observer = Callable[["Invocation"], None]
Credentials = Callable[["FunctionSpec"], Mapping[str, str]]

ENVIRONMENTS_VAR: Final = "MAILROOM_LOCAL_LAMBDA_ENVIRONMENTS"
PRELOAD_VARIABLE: Final = lambda_worker.PRELOAD_VARIABLE
INIT_SECONDS: Final = 60.0  # Lambda allows 10 s of init; a loaded CI machine importing boto3 gets more
SANDBOX_TIMEDOUT: Final = "Sandbox.Timedout"  # the errorType of an invocation past its Timeout, as Lambda reports it
# Imported once by the server environments are forked from: what every handler imports, none of it reading
# the environment at import time (each environment sets its own variables before importing its handler).
PRELOADED: Final = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "mailroom_cli.local.lambda_worker",
    "mailroom_cli.local.environment_preload",  # last: the shared code, loader and gc.freeze()
)


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


class _Environment:
    """One execution environment: a process of one function, forked from the pre-loaded server."""

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], log_path: str | None) -> None:
        self._connection, child_end = multiprocessing.Pipe()
        self.process = _EnvironmentProcess(
            target=lambda_worker.serve,
            args=(child_end, spec.handler, spec.code_dir, dict(env), log_path),
            name=f"lambda:{spec.name}",
            daemon=True,  # ends with the stack's process whatever happens
        )
        self.process.start()
        child_end.close()
        self.ready = False
        self.busy = False

    def _reply(self, timeout: float) -> dict[str, Any] | None:
        """The next reply within ``timeout`` seconds; None past it. The process ended: ``Runtime.ExitError``."""
        try:
            if not self._connection.poll(timeout):
                return None
            reply: dict[str, Any] = self._connection.recv()
        except (EOFError, OSError):
            self.process.join(5)
            status = self.process.exitcode
            return lambda_worker.error_reply(
                "Runtime.ExitError", f"Error: Runtime exited with error: exit status {status}"
            )
        return reply

    def init(self) -> dict[str, Any] | None:
        """Wait for the handler's import; None when ready, else the error reply (the environment is unusable)."""
        reply = self._reply(INIT_SECONDS)
        if reply is None:
            return lambda_worker.error_reply("Runtime.InitError", f"init took longer than {INIT_SECONDS:.0f} s")
        if reply.get("ready"):
            self.ready = True
            return None
        return reply

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send one invocation; its reply, or None when it ran past ``timeout``."""
        with contextlib.suppress(OSError):  # the process is gone: the read below says how it ended
            self._connection.send(request)
        return self._reply(timeout)

    def alive(self) -> bool:
        """The process still runs."""
        return self.process.is_alive()

    def signal_kill(self) -> None:
        """SIGKILL, without waiting (Lambda destroys an environment; nothing in it needs an orderly exit)."""
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()

    def kill(self) -> None:
        """End the process now (a timeout, a dead or stopped stack)."""
        self.signal_kill()
        self.close()

    def close(self) -> None:
        """Hang up (the worker returns), wait a little, then kill."""
        self._connection.close()
        self.process.join(2)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
        self.process.close()


_preloaded = False
_forkserver_lock = threading.Lock()
_launching = threading.local()


def _preparation_data(name: str) -> dict[str, Any]:
    """``spawn.get_preparation_data``, without the parent's ``__main__`` while an environment launches.

    multiprocessing runs the parent's main script again in every child it starts (as ``__mp_main__``),
    for pickled functions defined there. An environment needs nothing from it: a bench script would
    import moto into every environment, a script without a ``__main__`` guard would start a second
    stack in each. Other users of multiprocessing in the process are unaffected.
    """
    data: dict[str, Any] = _get_preparation_data(name)
    if getattr(_launching, "environment", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


_get_preparation_data = multiprocessing.spawn.get_preparation_data


class _EnvironmentPopen(multiprocessing.popen_forkserver.Popen):
    """The forkserver's process launcher, with the preparation data above."""

    def _launch(self, process_obj: Any) -> None:
        _launching.environment = True
        try:
            super()._launch(process_obj)  # type: ignore[misc]
        finally:
            _launching.environment = False


class _EnvironmentProcess(multiprocessing.context.ForkServerProcess):
    """A process forked from the server that imported ``PRELOADED`` once (one server per Python process).

    A cold start then costs the fork, the handler's own module and ``mailroom.observability``: the
    server also holds mailroom's other modules and botocore's parsed models (``environment_preload``),
    and a test session or ``local up`` starts many environments.
    ``bench/bench_coldstart.py`` still measures the whole import in fresh interpreters, as Lambda pays it.
    """

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        global _preloaded
        with _forkserver_lock:
            if not _preloaded:
                multiprocessing.get_context("forkserver").set_forkserver_preload(list(PRELOADED))
                if multiprocessing.spawn.get_preparation_data is _get_preparation_data:
                    multiprocessing.spawn.get_preparation_data = _preparation_data
                _preloaded = True
        return _EnvironmentPopen(process_obj)


class _Environments:
    """A function's execution environments: an idle one is reused, else a new one up to ``limit``."""

    def __init__(self, limit: int, start: Callable[[], _Environment]) -> None:
        self._limit = max(1, limit)
        self._start = start
        self._all: list[_Environment] = []
        self._changed = threading.Condition()
        self._closed = False

    def prestart(self) -> None:
        """Start one environment now if there is none (its init runs while nothing waits for it)."""
        with self._changed:
            if not self._all and not self._closed:
                self._all.append(self._start())

    def acquire(self) -> _Environment:
        """An environment for one invocation: idle ones first, a new one while under the limit."""
        with self._changed:
            while True:
                if self._closed:
                    raise RuntimeError("the local stack is stopping")
                for environment in self._all:
                    if not environment.busy:
                        environment.busy = True
                        return environment
                if len(self._all) < self._limit:
                    environment = self._start()
                    environment.busy = True
                    self._all.append(environment)
                    return environment
                self._changed.wait()

    def release(self, environment: _Environment, *, keep: bool) -> None:
        """Give the environment back, or (``keep`` False: it timed out, died or failed its init) end it."""
        if not keep:
            environment.kill()
        with self._changed:
            if not keep and environment in self._all:
                self._all.remove(environment)
            environment.busy = False
            self._changed.notify()

    def count(self) -> int:
        """How many environments exist."""
        with self._changed:
            return len(self._all)

    def pids(self) -> list[int]:
        """The process ids of the environments that exist."""
        with self._changed:
            return [pid for environment in self._all if (pid := environment.process.pid) is not None]

    def close(self) -> list[_Environment]:
        """Take every environment away (the stack stops); the caller ends them."""
        with self._changed:
            self._closed = True
            environments, self._all = self._all, []
            self._changed.notify_all()
        return environments


@dataclass
class LocalRuntime:
    """Function name → handler; installs itself into moto's Lambda backend."""

    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    observers: list[Observer] = field(default_factory=list)
    faults: dict[str, _Injected] = field(default_factory=dict)
    log_path: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    # The credentials an environment of the function gets (local/iam.py: its role's session); {}: the administrator's.
    credentials: Credentials = field(default=lambda _spec: {})
    max_environments: int = field(default_factory=lambda: int(os.environ.get(ENVIRONMENTS_VAR) or 2))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _undo_invoke: Callable[[], None] | None = None
    _environments: dict[str, _Environments] = field(default_factory=dict)

    def register(self, spec: FunctionSpec) -> None:
        """Make ``spec`` invocable by its function name."""
        self.functions[spec.name] = spec

    def install(self) -> None:
        """Take over moto's invoke."""
        if self._undo_invoke is None:
            self._undo_invoke = moto_patches.install(invoke=self.invoke)

    def warm(self) -> None:
        """Start one environment of every function, in the background (their imports run while the stack starts)."""
        pools = [self._pool(spec) for spec in self.functions.values()]

        def prestart() -> None:
            for pool in pools:
                with contextlib.suppress(RuntimeError):  # the stack stopped first
                    pool.prestart()

        threading.Thread(target=prestart, name="lambda-warm", daemon=True).start()

    def uninstall(self) -> None:
        """Unregister the invoke hook and end every environment."""
        if self._undo_invoke is not None:
            self._undo_invoke()
            self._undo_invoke = None
        with self._lock:
            pools, self._environments = list(self._environments.values()), {}
        environments = [environment for pool in pools for environment in pool.close()]
        for environment in environments:  # all at once, then reaped: a stopping stack waits for none in turn
            environment.signal_kill()
        for environment in environments:
            environment.close()

    def environment_count(self, step: str) -> int:
        """How many execution environments ``step``'s function has (tests, diagnostics)."""
        pool = self._environments.get(self.by_step(step).name)
        return pool.count() if pool is not None else 0

    def environment_pids(self) -> list[int]:
        """The process ids of every function's environments (benchmarks count their CPU)."""
        with self._lock:
            pools = list(self._environments.values())
        return [pid for pool in pools for pid in pool.pids()]

    def environment_of(self, spec: FunctionSpec) -> dict[str, str]:
        """What an environment of ``spec`` gets: Lambda's variables, the function's own, its credentials."""
        env = dict(os.environ)  # PATH, the emulator's endpoint (AWS_ENDPOINT_URL), the administrator's keys
        env.update(spec.environment)
        env.update(self.overrides)  # local-only settings win over the template's (log level…)
        env.update(self.credentials(spec))
        env.update(
            {
                "_HANDLER": spec.handler,
                "LAMBDA_TASK_ROOT": spec.code_dir,
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "local",
                "MAILROOM_LAMBDA_FUNCTION_ARN": spec.arn,
            }
        )
        return env

    def _pool(self, spec: FunctionSpec) -> _Environments:
        with self._lock:
            pool = self._environments.get(spec.name)
            if pool is None:

                def start() -> _Environment:
                    current = self.functions.get(spec.name, spec)  # a test may have replaced it (its Timeout)
                    return _Environment(current, self.environment_of(current), self.log_path)

                pool = self._environments[spec.name] = _Environments(self.max_environments, start)
            return pool

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
        each of those calls wait that long first, inside the function's environment (``error`` None:
        then run normally), so one past the function's timeout ends as ``Sandbox.Timedout``.
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
        """Run one invocation in an environment of the function; the Python runtime's error shape on failure."""
        spec = self.functions.get(name)
        if spec is None:
            raise KeyError(f"function {name} is not part of the local stack")
        event = json.loads(body) if body else {}
        call = Invocation(function=spec, event=event, started=time.time())
        request_id = str(uuid.uuid4())
        fault = self._take_fault(spec)
        reply = self._run(spec, event, request_id, fault)
        if "error" not in reply and fault is not None and fault.error is not None and fault.after:
            call.result = reply["result"]  # it ran, its side effects happened: only its answer is lost
            message = f"injected by `mailroom local fail --after` into {spec.logical_id} after it ran"
            reply = lambda_worker.error_reply(lambda_worker.error_type_of(fault.error), message, request_id)
        if "error" in reply:
            error = reply["error"]
            error.setdefault("requestId", request_id)
            call.error_type, call.error_message = str(error["errorType"]), str(error["errorMessage"])
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(error)
        else:
            call.result = reply["result"]
            payload = json.dumps(call.result)
        call.duration_ms = (time.time() - call.started) * 1000
        for observer in self.observers:
            observer(call)
        return payload.encode()

    def _run(self, spec: FunctionSpec, event: Any, request_id: str, fault: _Injected | None) -> dict[str, Any]:
        pool = self._pool(spec)
        environment = pool.acquire()
        keep = False
        try:
            if not environment.ready:
                failed = environment.init()
                if failed is not None:
                    return failed
            request: dict[str, Any] = {"event": event, "request_id": request_id, "timeout_s": spec.timeout}
            if fault is not None:
                request["fault"] = {"hang_seconds": fault.hang_seconds}
                if fault.error is not None and not fault.after:
                    request["fault"]["error_type"] = lambda_worker.error_type_of(fault.error)
                    request["fault"]["message"] = f"injected by `mailroom local fail` into {spec.logical_id}"
            reply = environment.call(request, float(spec.timeout))
            if reply is None:
                message = f"RequestId: {request_id} Error: Task timed out after {float(spec.timeout):.2f} seconds"
                return lambda_worker.error_reply(SANDBOX_TIMEDOUT, message, request_id)
            keep = environment.alive()
            return reply
        finally:
            pool.release(environment, keep=keep)

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
