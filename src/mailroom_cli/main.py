"""The `mailroom` command line: data to stdout, progress and errors to stderr, `--json` for scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from mailroom.errors import MailroomError
from mailroom.mime import ParsedEmail, parse_email

from mailroom_cli import cli_local, operations
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
    table = Table(*keys)
    for row in rows:
        table.add_row(*[_cell(row.get(k)) for k in keys])
    Console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return f"{value.get('safe_filename') or value.get('filename')} ({value.get('size')} B)"
    return "" if value is None else str(value)


app.add_typer(cli_local.app, name="local")
mailbox_app = typer.Typer(help="Addresses that deliver to a user's inbox.")
app.add_typer(mailbox_app, name="mailbox")


@mailbox_app.command("add")
def mailbox_add(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="an address in the recipient domain")],
    user: Annotated[str, typer.Option(help="whose inbox it feeds")],
    tenant: Annotated[str, typer.Option(help="the user's tenant")] = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Register ADDRESS for USER. Example: `mailroom mailbox add scans@in.mailroom.localhost --user alice`."""
    try:
        row = operations.add_mailbox(_target(ctx), address, user=user, tenant=tenant)
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
) -> None:
    """Send an email over plain SMTP (any SMTP client works too).

    Example: `mailroom send --to scans@in.mailroom.localhost --attach scan.pdf`.
    """
    if smtp is None:
        target = _target(ctx)
        smtp = str(target.info.get("smtp") or _fail("no SMTP listener known: give --smtp HOST:PORT"))
    message = operations.build_message(to=to, sender=sender, subject=subject, body=body, attachments=attach or [])
    try:
        reply = operations.send(smtp, message, to=to, sender=sender)
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
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A user's inbox (`mailroom inbox alice`), or one item's attachments (`mailroom inbox get ID --save DIR`)."""
    target = _target(ctx)
    if args[0] == "get":
        if len(args) != 2 or save is None:
            _fail("usage: mailroom inbox get ITEM --save DIR", 2)
        try:
            item = operations.inbox_item(target, args[1], user=user)
            paths = operations.save_attachments(target, item, save)
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
    try:
        size = operations.save_raw(_target(ctx), message_id, output)
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


__all__ = ["ParsedEmail", "app"]
