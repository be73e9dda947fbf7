"""The `mailroom` command line: data to stdout, progress and errors to stderr, `--json` for scripts."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from mailroom import lifecycle
from mailroom.errors import MailroomError
from mailroom.mime import ParsedEmail, parse_email

from mailroom_cli import operations, operator
from mailroom_cli.target import Target, TargetError, resolve

app = typer.Typer(
    help="mailroom: inbound email to the user's inbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option(help="AWS profile (deployed stacks)")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (deployed stacks)")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="AWS endpoint to talk to instead of the default")] = None,
    stack: Annotated[
        str | None, typer.Option(help="a deployed stack's name; without it, the running local stack")
    ] = None,
) -> None:
    """mailroom: inbound email to the user's inbox."""
    ctx.obj = {"profile": profile, "region": region, "endpoint_url": endpoint_url, "stack": stack}


def _target(ctx: typer.Context) -> Target:
    try:
        return resolve(**(ctx.obj or {}))
    except TargetError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


def _fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(f"mailroom: {message}\n")
    raise typer.Exit(code)


def _emit(rows: Any, as_json: bool, columns: list[str] | None = None) -> None:
    """``--json``: the rows as JSON on stdout; otherwise a table (rich)."""
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    if not rows:
        Console(stderr=True).print("(none)")
        return
    keys = columns or list(rows[0])
    table = Table()
    for key in keys:
        table.add_column(key, overflow="fold")  # ids whole (folded, never cut): they are what commands take
    for row in rows:
        table.add_row(*[_cell(row.get(k)) for k in keys])
    Console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return f"{value.get('safe_filename') or value.get('filename')} ({value.get('size')} B)"
    return "" if value is None else str(value)


def _add_local() -> None:
    """``mailroom local …`` when the local emulation is installed; otherwise a command that says how to get it.

    The operator CLI needs only boto3, typer and rich (``pip install .``); moto and aiosmtpd come with
    the ``local`` extra (``pip install '.[local]'``, which ``make setup`` installs).
    """
    try:
        from mailroom_cli import cli_local
    except ImportError as missing:
        absent = missing.name or "moto"

        @app.command(
            "local",
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
            help="The local stack (needs the local extra: pip install 'mailroom[local]').",
        )
        def local_needs_the_extra() -> None:
            _fail(f"`mailroom local` needs the local extra ({absent} is not installed): pip install 'mailroom[local]'")

        return
    app.add_typer(cli_local.app, name="local")


_add_local()
mailbox_app = typer.Typer(help="Addresses that deliver to a user's inbox.")
app.add_typer(mailbox_app, name="mailbox")


@mailbox_app.command("add")
def mailbox_add(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="an address in the recipient domain")],
    user: Annotated[str, typer.Option(help="whose inbox it feeds")],
    tenant: Annotated[str, typer.Option(help="the user's tenant")] = "default",
    force: Annotated[bool, typer.Option(help="move an address that already feeds another user")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Register ADDRESS for USER. Example: `mailroom mailbox add scans@in.mailroom.localhost --user alice`."""
    try:
        row = operations.add_mailbox(_target(ctx), address, user=user, tenant=tenant, force=force)
    except operations.OperationError as exc:
        _fail(str(exc))
    _emit([row], as_json)


@mailbox_app.command("list")
def mailbox_list(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every registered mailbox."""
    _emit(operations.list_mailboxes(_target(ctx)), as_json, ["address", "user", "tenant"])


@app.command()
def send(
    ctx: typer.Context,
    to: Annotated[list[str], typer.Option("--to", help="recipient (repeatable)")],
    sender: Annotated[str, typer.Option("--from", help="envelope and header sender")] = "scanner@office.example",
    subject: Annotated[str, typer.Option(help="subject")] = "Scanned document",
    body: Annotated[str, typer.Option(help="text body")] = "Sent with mailroom send.",
    attach: Annotated[
        list[Path] | None, typer.Option(help="file to attach (repeatable)", exists=True, dir_okay=False)
    ] = None,
    smtp: Annotated[str | None, typer.Option(help="HOST:PORT; default: the running local stack's listener")] = None,
    cafile: Annotated[
        str | None, typer.Option(help="CA file to verify the listener's certificate (default: the local stack's)")
    ] = None,
) -> None:
    """Send an email over SMTP with STARTTLS (any SMTP client that speaks STARTTLS works too).

    Example: `mailroom send --to scans@in.mailroom.localhost --attach scan.pdf`.
    """
    if smtp is None:
        target = _target(ctx)
        smtp = str(target.info.get("smtp") or _fail("no SMTP listener known: give --smtp HOST:PORT"))
        cafile = cafile or target.info.get("smtp_certificate")
    message = operations.build_message(to=to, sender=sender, subject=subject, body=body, attachments=attach or [])
    try:
        reply = operations.send(smtp, message, to=to, sender=sender, cafile=cafile)
    except (operations.OperationError, OSError) as exc:
        _fail(str(exc))
    sys.stderr.write(f"accepted: {reply}\n")
    sys.stdout.write(reply.split()[-1] + "\n")


@app.command()
def inbox(
    ctx: typer.Context,
    args: Annotated[list[str], typer.Argument(help="USER, or: get ITEM", metavar="USER | get ITEM")],
    save: Annotated[Path | None, typer.Option(help="with `get`: directory to save the attachments in")] = None,
    user: Annotated[str | None, typer.Option(help="with `get`: the item's user (else found by id)")] = None,
    overwrite: Annotated[bool, typer.Option(help="with `get`: replace files in DIR (default: numbered names)")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A user's inbox (`mailroom inbox alice`), or one item's files (`mailroom inbox get ID --save DIR`).

    `get` saves the attachments and the text and HTML bodies (body.txt, body.html); ITEM may be an
    unambiguous prefix of the id (6 characters or more).
    """
    target = _target(ctx)
    if args[0] == "get":
        if len(args) != 2 or save is None:
            _fail("usage: mailroom inbox get ITEM --save DIR", 2)
        try:
            item = operations.inbox_item(target, operations.resolve_message_id(target, args[1]), user=user)
            paths = operations.save_attachments(target, item, save, bodies=True, overwrite=overwrite)
        except operations.OperationError as exc:
            _fail(str(exc))
        _emit([str(p) for p in paths], True) if as_json else sys.stdout.write("".join(f"{p}\n" for p in paths))
        return
    if len(args) != 1:
        _fail("usage: mailroom inbox USER", 2)
    rows = operations.inbox(target, args[0])
    _emit(rows, as_json, ["id", "subject", "from", "received_at", "attachments"])


@app.command()
def raw(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(help="the SES message id")],
    output: Annotated[Path, typer.Option("-o", "--output", help="file to write the decrypted email to")],
) -> None:
    """Decrypt the stored original of one email (an operator's tool; the file holds the email's content)."""
    target = _target(ctx)
    try:
        size = operations.save_raw(target, operations.resolve_message_id(target, message_id), output)
    except (operations.OperationError, MailroomError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    sys.stderr.write(f"wrote {size} bytes to {output}\n")


def _parse_file(path: Path) -> dict[str, Any]:
    try:
        return parse_email(path.read_bytes()).to_contract()
    except MailroomError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


@app.command()
def parse(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="raw .eml files")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object (the parse contract)")] = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help='JSON Lines, {"file": ...} first, for many files')] = False,
) -> None:
    """Parse raw emails and show headers, bodies and attachments.

    Examples: `mailroom parse scan.eml`, `mailroom parse --json scan.eml`,
    `mailroom parse --jsonl corpus/*.eml`.
    """
    failed = False
    for path in files:
        result = _parse_file(path)
        failed = failed or "error" in result
        if jsonl:
            sys.stdout.write(json.dumps({"file": str(path), **result}, ensure_ascii=False) + "\n")
        elif as_json:
            sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        else:
            _summary(path, result)
    if failed and not jsonl:
        raise typer.Exit(code=2)


def _summary(path: Path, result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if "error" in result:
        Console(stderr=True).print(f"[red]{path}: {result['error']}[/red]: {result['message']}")
        return
    console.print(f"[bold]{path}[/bold]")
    for key in ("subject", "from", "to", "cc", "date", "message_id"):
        value = result[key]
        console.print(f"  {key:>10}: {', '.join(value) if isinstance(value, list) else value}")
    verdicts = ", ".join(f"{k}={v}" for k, v in result["verdicts"].items() if v)
    if verdicts:
        console.print(f"  {'verdicts':>10}: {verdicts}")
    text = (result["text"] or "").strip()
    console.print(f"  {'text':>10}: {len(text)} characters; html: {'yes' if result['html'] else 'no'}")
    table = Table("#", "file name (safe)", "type", "bytes", "sha256", "inline")
    for i, att in enumerate(result["attachments"], 1):
        table.add_row(
            str(i),
            att["safe_filename"],
            att["content_type"],
            str(att["size"]),
            att["sha256"][:16],
            str(att["inline"]),
        )
    console.print(table)
    if result["defects"]:
        console.print(f"  defects: {', '.join(result['defects'])}")


__all__ = ["ParsedEmail", "app", "run"]


def run() -> None:
    """The console entry point: every failure is one line on stderr and a non-zero exit, never a traceback.

    Usage errors exit 2 (click's own, and ours); a failed operation exits 1. ``MAILROOM_DEBUG=1``
    shows the traceback instead, for a bug report.
    """
    try:
        app(standalone_mode=True)
    except Exception as exc:
        if os.environ.get("MAILROOM_DEBUG"):
            raise
        sys.stderr.write(f"mailroom: {describe(exc)}\n")
        sys.exit(1)


def describe(exc: BaseException) -> str:
    """One line for an exception: AWS's error code and message, or the exception's own words."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        error = response["Error"]
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".strip()
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


@app.command()
def emails(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="received|delivered|quarantined|unroutable|failed|duplicate")
    ] = None,
    since: Annotated[str | None, typer.Option(help="only updated within this window, e.g. 2h, 7d")] = None,
    step: Annotated[str | None, typer.Option(help="failing/refusing step (Decrypt, Parse, Archive, Inbox)")] = None,
    error: Annotated[str | None, typer.Option(help="error name, e.g. StorageUnavailableError")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One row per email from the status records. Example: `mailroom emails --status failed --since 1d`."""
    try:
        rows = operator.list_emails(
            _target(ctx),
            status=status,
            since=operator.parse_duration(since) if since else None,
            step=step,
            error=error,
        )
    except operator.OperatorError as exc:
        _fail(str(exc), 2)
    _emit(rows, as_json, ["message_id", "status", "step", "error", "received_at", "updated_at"])


@app.command()
def history(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="SES message id or execution ARN", metavar="MESSAGE_ID|ARN")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """An email's execution timeline: each state with attempts, durations, errors, and redrives."""
    target = _target(ctx)
    try:
        result = operator.history(target, operations.resolve_message_id(target, reference))
    except (operator.OperatorError, operations.OperationError) as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
        return
    sys.stdout.write(f"{result['execution_arn']}\n{result['status']}  redrives: {result['redrive_count']}\n")
    for state in result["states"]:
        errors = ", ".join(str(e.get("error")) for e in state["errors"])
        duration = f"{state['duration_ms']} ms" if "duration_ms" in state else "…"
        attempts = f"{state['attempts']} attempt(s)" if state["attempts"] else ""
        sys.stdout.write(f"  {state['state']:<18} {duration:>9}  {attempts:<12} {errors}\n")


@app.command()
def replay(
    ctx: typer.Context,
    message_ids: Annotated[list[str] | None, typer.Argument(help="SES message ids", metavar="[MESSAGE_ID]...")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="every email whose status is failed (with filters)")] = False,
    since: Annotated[str | None, typer.Option(help="with --failed: failed within, e.g. 1d")] = None,
    step: Annotated[str | None, typer.Option(help="with --failed: at this step")] = None,
    error: Annotated[str | None, typer.Option(help="with --failed: with this error")] = None,
    restart: Annotated[bool, typer.Option(help="new execution from the start instead of a redrive")] = False,
    dry_run: Annotated[bool, typer.Option(help="say what would be done, do nothing")] = False,
    rate: Annotated[float, typer.Option(help="at most this many replays per second")] = 10.0,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="route an unroutable email (e.g. no-envelope) to this address; repeatable"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Redrive failed emails at their failed step (or restart them); never delivers anything twice.

    Examples: `mailroom replay 0a1b…`, `mailroom replay --failed --step Archive --dry-run`,
    `mailroom replay 0a1b… --to scans@in.example.com` (an email SES never announced: status
    unroutable, reason no-envelope).
    """
    target = _target(ctx)
    ids = list(message_ids or [])
    if failed:
        try:
            window = operator.parse_duration(since) if since else None
        except operator.OperatorError as exc:
            _fail(str(exc), 2)
        rows = operator.list_emails(target, status="failed", since=window, step=step, error=error)
        ids += [r["message_id"] for r in rows if r["message_id"] not in ids]
    try:
        ids = [operations.resolve_message_id(target, i) for i in ids]
    except operations.OperationError as exc:
        _fail(str(exc), 2)
    if not ids and failed:
        sys.stderr.write("nothing to replay: no email matches\n")
        _emit([], as_json, ["message_id", "action", "reason"])
        return
    if not ids:
        _fail("nothing to replay: give message ids or --failed", 2)
    try:
        results = operator.replay(
            target, ids, restart=restart, dry_run=dry_run, rate=rate, progress=_progress, to=list(to or [])
        )
    except operator.OperatorError as exc:
        _fail(str(exc), 2)
    counts: dict[str, int] = {}
    for r in results:
        counts[r["action"]] = counts.get(r["action"], 0) + 1
    sys.stderr.write(("dry run: " if dry_run else "") + ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) + "\n")
    _emit(results, as_json, ["message_id", "action", "reason"])


def _progress(line: str) -> None:
    sys.stderr.write(line + "\n")


@app.command()
def sweep(
    ctx: typer.Context,
    older_than: Annotated[str, typer.Option(help="only emails stored longer ago than this, e.g. 15m")] = "15m",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Record stored emails that no SES notification announced (unroutable, no-envelope), as the Watchdog does.

    Then `mailroom replay ID --to ADDRESS` routes one of them.
    """
    try:
        found = operator.sweep(_target(ctx), older_than=operator.parse_duration(older_than, allow_zero=True))
    except operator.OperatorError as exc:
        _fail(str(exc), 2)
    sys.stderr.write(f"{len(found)} email(s) without envelope recorded as unroutable (no-envelope)\n")
    _emit(
        [{"message_id": m, "status": lifecycle.UNROUTABLE, "reason": lifecycle.NO_ENVELOPE} for m in found],
        as_json,
        ["message_id", "status", "reason"],
    )


@app.command()
def console(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="port to serve on (0: a free one)")] = 8025,
    host: Annotated[str, typer.Option(help="address to bind (loopback unless you mean it)")] = "127.0.0.1",
    allow_replay: Annotated[
        bool, typer.Option(help="allow replays and mailbox changes (read-only without it)")
    ] = False,
    refresh: Annotated[
        float, typer.Option(help="seconds between a page's live updates (each reads the status table)", min=0.25)
    ] = 5.0,
) -> None:
    """Serve the console in the browser: emails, executions, inboxes, mailboxes, stats.

    Example: `mailroom --stack prod console`, then open http://127.0.0.1:8025/. With the operator's own
    credentials; read-only unless `--allow-replay`. Ctrl-C stops it.
    """
    import logging

    from mailroom_cli.console.server import ConsoleServer, check_host

    try:
        check_host(host)
    except ValueError as exc:
        _fail(str(exc), 2)
    target = _target(ctx)
    label = (ctx.obj or {}).get("stack") or "local stack"
    try:
        server = ConsoleServer(
            target, host=host, port=port, allow_replay=allow_replay, label=label, refresh_seconds=refresh
        )
    except OSError as exc:
        _fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    sys.stderr.write(f"console for {label}: {server.url} ({'replay allowed' if allow_replay else 'read-only'})\n")
    if not operations.is_loopback(host):
        sys.stderr.write(
            f"warning: {host} is not loopback: anyone who reaches it sees your stack's emails over plain HTTP\n"
        )
    server.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command()
def stats(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="window, e.g. 24h, 7d")] = "24h",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Received, delivered, quarantined by reason, unroutable, failed by step and error, in flight, latency."""
    try:
        result = operator.stats(_target(ctx), since=operator.parse_duration(since))
    except operator.OperatorError as exc:
        _fail(str(exc), 2)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    for key, value in result.items():
        sys.stdout.write(f"{key:<12} {json.dumps(value) if isinstance(value, dict) else value}\n")
