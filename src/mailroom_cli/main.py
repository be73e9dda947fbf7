"""The `mailroom` command line: data to stdout, progress and errors to stderr, `--json` for scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from mailroom.errors import MailroomError
from mailroom.mime import ParsedEmail, parse_email

app = typer.Typer(
    help="mailroom: inbound email to the user's inbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """mailroom: inbound email to the user's inbox."""


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
