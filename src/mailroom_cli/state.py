"""Where a running local stack says it is: a small JSON file other ``mailroom`` commands read.

Kept apart from the emulator (``mailroom_cli.local``), so the operator CLI finds a local stack, or
says none runs, without moto installed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_state(path: Path, info: dict[str, Any]) -> None:
    """Tell other ``mailroom`` commands where the running local stack is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(path)


def default_state_file() -> Path:
    """``$MAILROOM_STATE_DIR/local.json`` (default ``~/.cache/mailroom``)."""
    base = os.environ.get("MAILROOM_STATE_DIR") or str(Path.home() / ".cache" / "mailroom")
    return Path(base) / "local.json"


def read_state(path: Path | None = None) -> dict[str, Any] | None:
    """The running local stack's info, or None when none runs (a stale file is ignored)."""
    path = path or default_state_file()
    try:
        info: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    pid = info.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    return info
