"""Local mode's Lambda runtime: each invocation runs in an execution environment, a process of the function.

What Lambda guarantees and the pipeline relies on: a function sees its own variables only; module
state lives as long as its environment (warm invocations share it, a new environment starts cold);
an invocation past the function's Timeout is ``Sandbox.Timedout`` and its environment is reset,
even while the handler is blocked in C; unhandled errors come back in the Python runtime's shape.
The handlers here are small modules written to a temporary code directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailroom_cli.local.runtime import FunctionSpec, LocalRuntime

HANDLERS = """
import json, os, sys, time

CALLS = 0  # module state: survives warm invocations, not a new environment
# What this environment had imported before its handler's module (the fork server's preload).
IMPORTED_BEFORE = {m: m in sys.modules for m in ("mailroom.steps.parse", "mailroom.observability")}


def environment(event, context):
    global CALLS
    CALLS += 1
    return {
        "pid": os.getpid(),
        "calls": CALLS,
        "mine": os.environ.get("MINE"),
        "theirs": os.environ.get("THEIRS"),
        "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "context_function": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
    }


def sleep(event, context):
    time.sleep(event["seconds"])  # a C call: no Python instruction runs until it returns
    return {"pid": os.getpid()}


def fail(event, context):
    raise LookupError("the record is not there")


def unserialisable(event, context):
    return {"when": object()}


def exits(event, context):
    print("about to exit", flush=True)
    os._exit(3)


def preloaded(event, context):
    import boto3
    from mailroom.observability import logger

    first, second = boto3.session.Session(), boto3.session.Session()
    loader = first._session.get_component("data_loader")
    return {
        "imported_before": IMPORTED_BEFORE,
        "one_loader": loader is second._session.get_component("data_loader"),
        "s3_model_parsed": any("s3" in key for key in map(str, loader._cache)),
        "service": logger.service,
    }


def prints(event, context):
    print(json.dumps({"message": "hello from the handler"}))
    return None
"""


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    (tmp_path / "handlers_for_test.py").write_text(textwrap.dedent(HANDLERS))
    return tmp_path


def _spec(code_dir: Path, name: str, handler: str, *, timeout: int = 10, **environment: str) -> FunctionSpec:
    return FunctionSpec(
        logical_id=name.capitalize() + "Function",
        name=name,
        handler=f"handlers_for_test.{handler}",
        code_dir=str(code_dir),
        environment=environment,
        timeout=timeout,
    )


@pytest.fixture
def runtime(code_dir: Path, tmp_path: Path) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(max_environments=2, log_path=str(tmp_path / "lambda.log"))
    runtime.register(_spec(code_dir, "alpha", "environment", MINE="alpha's"))
    runtime.register(_spec(code_dir, "beta", "environment", THEIRS="beta's"))
    runtime.register(_spec(code_dir, "sleeper", "sleep", timeout=1))
    runtime.register(_spec(code_dir, "failing", "fail"))
    runtime.register(_spec(code_dir, "unserialisable", "unserialisable"))
    runtime.register(_spec(code_dir, "exiting", "exits"))
    runtime.register(_spec(code_dir, "printing", "prints"))
    runtime.register(_spec(code_dir, "preloaded", "preloaded", POWERTOOLS_SERVICE_NAME="preloaded-service"))
    runtime.register(FunctionSpec("BrokenFunction", "broken", "no_such_module.handler", str(code_dir), {}))
    runtime.install()
    yield runtime
    runtime.uninstall()


def _invoke(runtime: LocalRuntime, name: str, event: Any = None) -> tuple[dict[str, str], Any]:
    headers: dict[str, str] = {}
    payload = runtime.invoke(name, json.dumps(event or {}), headers)
    return headers, json.loads(payload)


def test_a_function_sees_its_own_variables_in_a_process_of_its_own(runtime: LocalRuntime) -> None:
    headers, alpha = _invoke(runtime, "alpha")
    _, beta = _invoke(runtime, "beta")

    assert headers == {}
    assert (alpha["mine"], alpha["theirs"]) == ("alpha's", None)
    assert (beta["mine"], beta["theirs"]) == (None, "beta's")
    assert (alpha["function"], alpha["context_function"]) == ("alpha", "alpha")
    assert len({alpha["pid"], beta["pid"], os.getpid()}) == 3
    assert 0 < alpha["remaining_ms"] <= 10_000


def test_warm_invocations_share_module_state_and_each_has_its_own_request_id(runtime: LocalRuntime) -> None:
    _, first = _invoke(runtime, "alpha")
    _, second = _invoke(runtime, "alpha")

    assert second["pid"] == first["pid"]
    assert second["calls"] == first["calls"] + 1
    assert second["request_id"] != first["request_id"]


def test_past_its_timeout_an_invocation_blocked_in_c_is_sandbox_timedout_and_its_environment_reset(
    runtime: LocalRuntime,
) -> None:
    _, before = _invoke(runtime, "sleeper", {"seconds": 0})
    headers, timed_out = _invoke(runtime, "sleeper", {"seconds": 30})
    _, after = _invoke(runtime, "sleeper", {"seconds": 0})

    assert headers == {"x-amz-function-error": "Unhandled"}
    assert timed_out["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in timed_out["errorMessage"]
    with pytest.raises(ProcessLookupError):
        os.kill(before["pid"], 0)  # the timed-out environment's process is gone
    assert after["pid"] != before["pid"]


def test_errors_come_back_in_the_python_runtimes_shape(runtime: LocalRuntime) -> None:
    headers, error = _invoke(runtime, "failing")
    _, marshal = _invoke(runtime, "unserialisable")
    _, import_error = _invoke(runtime, "broken")
    _, exited = _invoke(runtime, "exiting")

    assert headers == {"x-amz-function-error": "Unhandled"}
    assert (error["errorType"], error["errorMessage"]) == ("LookupError", "the record is not there")
    assert any("raise LookupError" in line for line in error["stackTrace"])
    assert error["requestId"]
    assert marshal["errorType"] == "Runtime.MarshalError"
    assert import_error["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module" in import_error["errorMessage"]
    assert exited["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in exited["errorMessage"]


def test_an_injected_fault_runs_in_the_environment_and_the_function_recovers(runtime: LocalRuntime) -> None:
    runtime.fail("alpha", KeyError, times=1)
    _, injected = _invoke(runtime, "alpha")
    _, healthy = _invoke(runtime, "alpha")

    assert injected["errorType"] == "KeyError"
    assert "injected" in injected["errorMessage"]
    assert healthy["mine"] == "alpha's"


def test_concurrent_invocations_scale_out_to_the_limit_and_wait_beyond_it(runtime: LocalRuntime) -> None:
    results: list[Any] = []
    lock = threading.Lock()

    def call() -> None:
        _, result = _invoke(runtime, "sleeper", {"seconds": 0.5})
        with lock:
            results.append(result)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(results) == 4
    assert all("pid" in r for r in results), results  # none timed out: waiting for an environment is not running
    assert len({r["pid"] for r in results}) == 2  # max_environments
    assert runtime.environment_count("sleeper") == 2


def test_what_a_handler_prints_goes_to_the_lambda_log(runtime: LocalRuntime, tmp_path: Path) -> None:
    _invoke(runtime, "printing")
    _invoke(runtime, "exiting")

    text = (tmp_path / "lambda.log").read_text()
    assert "hello from the handler" in text
    assert "about to exit" in text


def test_a_script_without_a_main_guard_runs_once_however_many_environments_start(
    code_dir: Path, tmp_path: Path
) -> None:
    # multiprocessing would run the parent's main script again in every child it starts; an environment
    # must not (a second stack per environment, or moto imported into each, otherwise).
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json
            from mailroom_cli.local.runtime import FunctionSpec, LocalRuntime

            print("top level ran", flush=True)
            runtime = LocalRuntime(max_environments=2)
            runtime.register(FunctionSpec("AFunction", "a", "handlers_for_test.environment", {str(code_dir)!r}, {{}}))
            runtime.register(FunctionSpec("BFunction", "b", "handlers_for_test.environment", {str(code_dir)!r}, {{}}))
            functions = [json.loads(runtime.invoke(name, "{{}}", {{}}))["function"] for name in ("a", "b")]
            print(*functions)
            runtime.uninstall()
            """
        )
    )

    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)

    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("top level ran") == 1, run.stdout
    assert run.stdout.splitlines()[-1] == "a b"


def test_environments_share_the_fork_servers_code_and_models_but_build_their_logger_from_their_own_variables(
    runtime: LocalRuntime,
) -> None:
    _, seen = _invoke(runtime, "preloaded")

    assert seen["imported_before"] == {"mailroom.steps.parse": True, "mailroom.observability": False}
    assert seen["one_loader"] is True
    assert seen["s3_model_parsed"] is True
    assert seen["service"] == "preloaded-service"
