"""`mailroom local …`: run the whole pipeline offline (moto + SMTP), see where it is, run the demo."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from mailroom import lifecycle

from mailroom_cli import operations as ops
from mailroom_cli.console.server import DEFAULT_PORT as DEFAULT_CONSOLE_PORT
from mailroom_cli.console.server import ConsoleServer
from mailroom_cli.local import control
from mailroom_cli.local.progress import Progress
from mailroom_cli.local.samples import demo_samples
from mailroom_cli.local.stack import DEFAULT_DOMAIN, LocalOptions, LocalStack
from mailroom_cli.state import default_state_file, read_state, write_state
from mailroom_cli.target import from_local

app = typer.Typer(help="The local stack: template.yaml, the ASL and the handlers on moto, SMTP playing SES.")

FAST_RETRY_SCALE = 0.001


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _options(aws_port: int, smtp_port: int, domain: str, fast_retries: bool, state: bool) -> LocalOptions:
    return LocalOptions(
        aws_port=aws_port,
        smtp_port=smtp_port,
        domain=domain,
        retry_scale=FAST_RETRY_SCALE if fast_retries else 1.0,
        state_file=default_state_file() if state else None,
        lambda_log=default_state_file().parent / "lambda.log",
    )


@app.command()
def up(
    aws_port: Annotated[int, typer.Option(help="port of the emulated AWS endpoint", envvar="MAILROOM_AWS_PORT")] = 4566,
    smtp_port: Annotated[
        int, typer.Option(help="port of the SMTP listener playing SES", envvar="MAILROOM_SMTP_PORT")
    ] = 2525,
    domain: Annotated[
        str, typer.Option(help="recipient domain (the receipt rule's)", envvar="MAILROOM_DOMAIN")
    ] = DEFAULT_DOMAIN,
    fast_retries: Annotated[bool, typer.Option(help="compress Retry backoff waits (demos, tests)")] = False,
    mailbox: Annotated[
        list[str] | None, typer.Option(help="register ADDRESS=USER at start (repeatable)", metavar="ADDRESS=USER")
    ] = None,
    mock_config: Annotated[
        Path | None,
        typer.Option(help="Step Functions Local mock file (default: $SFN_MOCK_CONFIG)", exists=True, dir_okay=False),
    ] = None,
    allow_plaintext: Annotated[
        bool, typer.Option(help="take mail without STARTTLS (the deployed rule refuses it: TlsPolicy Require)")
    ] = False,
    console_port: Annotated[
        int | None,
        typer.Option(
            help="port of the browser console on loopback (0: a free one; default 8025, or a free one if taken)",
            envvar="MAILROOM_CONSOLE_PORT",
            show_default=False,
        ),
    ] = None,
    console: Annotated[bool, typer.Option(help="serve the browser console")] = True,
) -> None:
    """Run mailroom locally until Ctrl-C / SIGTERM. State lives as long as this process.

    Example: `mailroom local up --mailbox scans@in.mailroom.localhost=alice`, then
    `mailroom send --to scans@in.mailroom.localhost --attach scan.pdf` and `mailroom inbox alice`.
    """
    if read_state() is not None:
        _err(
            "a local stack is already running (see `mailroom local info`); to run another beside it, give it "
            "its own state directory and ports: MAILROOM_STATE_DIR=/tmp/stack2 mailroom local up --aws-port 4567 "
            "--smtp-port 2526 --console-port 8026"
        )
        raise typer.Exit(1)
    stack = LocalStack(_options(aws_port, smtp_port, domain, fast_retries, state=True))
    stack.options.mock_config = mock_config
    stack.options.allow_plaintext = allow_plaintext
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    _err("starting the local stack (moto, template.yaml, state machine, SMTP)…")
    assert stack.options.lambda_log is not None
    stack.options.lambda_log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stack.start()
    info = stack.info()
    target = from_local(info)
    progress = Progress(_err, status_table=target.name("StatusTableName"), state_machine_arn=info["state_machine_arn"])
    stack.observe(progress.on_invocation)
    progress.start(stack.internal_client)
    server = None
    try:
        if console:
            # The developer's own emulated stack: replay and mailbox changes allowed, on loopback only.
            server = _console(target, console_port)
            info["console_url"] = server.url
            assert stack.options.state_file is not None
            write_state(stack.options.state_file, info)
        for entry in mailbox or []:
            address, _, user = entry.partition("=")
            ops.add_mailbox(target, address, user=user or address.split("@")[0])
            _err(f"mailbox {address} → user {user or address.split('@')[0]}")
        _err(f"ready in {time.monotonic() - started:.1f} s")
        _err(f"  AWS endpoint  {info['endpoint_url']}   (AWS_ENDPOINT_URL for boto3 / aws --endpoint-url)")
        _err(f"  SMTP (SES)    {info['smtp']}   mail for @{info['domain']}")
        _err(f"  send:         mailroom send --to someone@{info['domain']} --attach FILE")
        _err("  inspect:      mailroom local info | mailroom inbox USER | mailroom mailbox list")
        _err(f"  Lambda logs:  {stack.options.lambda_log}")
        if server is not None:
            _err(f"  console:      {server.url}")
        _err("Ctrl-C stops everything (and forgets all state).")
        stopping.wait()
    finally:
        _err("stopping…")
        if server is not None:
            server.stop()
        progress.stop()
        stack.stop()


def _console(target: Any, port: int | None) -> ConsoleServer:
    """The local stack's console: on the port asked for, else on 8025, else (8025 taken) on a free port."""
    for candidate in [port] if port is not None else [DEFAULT_CONSOLE_PORT, 0]:
        try:
            return ConsoleServer(
                target, port=candidate, allow_replay=True, label="local stack", refresh_seconds=0.5
            ).start()
        except OSError as exc:
            if port is not None:
                _err(f"cannot serve the console on port {port} ({exc.strerror or exc}): give another --console-port")
                raise typer.Exit(1) from None
            _err(f"port {DEFAULT_CONSOLE_PORT} is taken ({exc.strerror or exc}): the console takes a free port")
    _err("cannot serve the console on any port: give --no-console")
    raise typer.Exit(1)


@app.command()
def info(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False) -> None:
    """Where the running local stack is: endpoint, SMTP, names of queues, buckets, tables."""
    state = read_state()
    if state is None:
        _err("no local stack is running: start one with `mailroom local up` (or `make run`)")
        raise typer.Exit(1)
    state = {k: v for k, v in state.items() if k != "pid"}
    if as_json:
        sys.stdout.write(json.dumps(state, indent=2) + "\n")
        return
    for key, value in state.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                sys.stdout.write(f"{key + '.' + sub:<22} {v}\n")
        else:
            sys.stdout.write(f"{key:<22} {value}\n")


@app.command()
def demo(
    domain: Annotated[str, typer.Option(help="recipient domain")] = DEFAULT_DOMAIN,
    timeout: Annotated[float, typer.Option(help="seconds to wait for all outcomes")] = 120.0,
    quiet: Annotated[bool, typer.Option(help="no per-step progress lines")] = False,
) -> None:
    """Start a private stack (free ports), send sample emails, and check each outcome; exit 0 only if all match."""
    stack = LocalStack(_options(0, 0, domain, fast_retries=True, state=False))
    assert stack.options.lambda_log is not None
    stack.options.lambda_log.parent.mkdir(parents=True, exist_ok=True)
    _err("starting a private local stack…")
    stack.start()
    try:
        outcomes = _run_demo(stack, timeout=timeout, quiet=quiet)
    finally:
        stack.stop()
    failures = [o for o in outcomes if o["outcome"] != o["expected"] or not o["files_ok"]]
    for o in outcomes:
        ok = "ok " if o not in failures else "BAD"
        files = f"  {o['files']} file(s) byte-identical" if o["files"] else ""
        sys.stdout.write(f"{ok} {o['name']:<32} expected {o['expected']:<11} got {o['outcome']}{files}\n")
    if failures:
        raise typer.Exit(1)


def _run_demo(stack: LocalStack, *, timeout: float, quiet: bool) -> list[dict[str, Any]]:
    info = stack.info()
    target = from_local(info)
    progress = Progress(_err, status_table=target.name("StatusTableName"), state_machine_arn=info["state_machine_arn"])
    if not quiet:
        stack.observe(progress.on_invocation)
    mailbox = f"demo@{info['domain']}"
    ops.add_mailbox(target, mailbox, user="demo")
    results: list[dict[str, Any]] = []
    for sample in demo_samples(mailbox, info["domain"]):
        reply = ops.send_raw(info["smtp"], sample.data, to=[sample.to], sender="scanner@office.example")
        message_id = reply.split()[-1]
        # Wait for each before the next: "the same message twice" must see the first one finished.
        outcome = wait_for_outcome(target, message_id, timeout=timeout)
        files_ok, files = True, 0
        if sample.attachments and outcome == "delivered":
            item = ops.inbox_item(target, message_id, user="demo")
            saved = {p.name: p.read_bytes() for p in ops.save_attachments(target, item, _scratch(message_id))}
            files = len(saved)
            files_ok = saved == sample.attachments
        results.append(
            {
                "name": sample.name,
                "message_id": message_id,
                "expected": sample.expected,
                "outcome": outcome,
                "files": files,
                "files_ok": files_ok,
            }
        )
    return results


def _scratch(message_id: str) -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"mailroom-demo-{message_id[:8]}-"))


def wait_for_outcome(target: Any, message_id: str, *, timeout: float) -> str:
    """Poll the status record and the execution until the email has a final outcome (or time runs out)."""
    deadline = time.monotonic() + timeout
    sfn = target.client("stepfunctions")
    arn = lifecycle.execution_arn(target.name("StateMachineArn"), message_id)
    while time.monotonic() < deadline:
        status = ops.email_status(target, message_id)
        if status in lifecycle.OUTCOMES:
            return status
        try:
            execution = sfn.describe_execution(executionArn=arn)["status"]
        except sfn.exceptions.ExecutionDoesNotExist:
            execution = "NOT_STARTED"
        if execution in ("FAILED", "TIMED_OUT", "ABORTED"):
            return "failed"
        time.sleep(0.2)
    return "timeout"


def _control_url() -> str:
    state = read_state()
    if state is None or not state.get("control_url"):
        _err("no local stack is running: start one with `mailroom local up`")
        raise typer.Exit(1)
    return str(state["control_url"])


@app.command()
def fail(
    step: Annotated[str, typer.Argument(help="Decrypt, Parse, Archive, Inbox (or Starter)")],
    times: Annotated[int | None, typer.Option(help="fail the next N attempts (default: until healed)")] = None,
    error: Annotated[str | None, typer.Option(help="taxonomy error to raise (default StorageUnavailableError)")] = None,
    after: Annotated[
        bool, typer.Option("--after", help="raise after the step ran (its writes done, its result lost)")
    ] = False,
    hang: Annotated[
        float, typer.Option(help="stall this many seconds first; past the function's Timeout: Sandbox.Timedout")
    ] = 0.0,
) -> None:
    """Make a step of the running local stack raise an error, to rehearse failures and replays.

    Example drill: `mailroom local fail Archive`, send mail, `mailroom emails --status failed`,
    `mailroom local heal`, `mailroom replay --failed`. With `--after` the step does its work and
    then reports the error, like a function that timed out after writing: the retry must not write twice.
    `--hang 200` (with no --error) stalls the step past its Timeout: the runtime stops it as Lambda does.
    """
    if times is not None and times < 1:
        _err("--times must be at least 1 (leave it out to fail until healed)")
        raise typer.Exit(2)
    body = {"step": step, "times": times, "error": error, "after": after, "hang": hang}
    try:
        reply = control.call(_control_url(), "fail", body)
    except ValueError as exc:
        _err(str(exc))
        raise typer.Exit(2) from None
    until = f"the next {times} attempt(s)" if times else "until healed"
    when = " after running" if reply.get("after") else ""
    stall = f"stalls {reply['hang']:g} s" + (" then " if reply["error"] else "") if reply.get("hang") else ""
    raises = f"raises {reply['error']}{when}" if reply["error"] else ""
    _err(f"{reply['step']} {stall}{raises} on {until}")


@app.command()
def heal(step: Annotated[str | None, typer.Argument(help="one step; default: all")] = None) -> None:
    """Stop injecting failures (into one step, or all)."""
    try:
        reply = control.call(_control_url(), "heal", {"step": step})
    except ValueError as exc:
        _err(str(exc))
        raise typer.Exit(2) from None
    _err(f"healed: {reply['healed']}")
