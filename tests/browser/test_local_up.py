"""`mailroom local up` serves the console beside the stack, and `local info --json` says where."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_stack import LOOPBACK

from mailroom_cli.console.server import DEFAULT_PORT

pytestmark = pytest.mark.allow_hosts(LOOPBACK)
MAILROOM = str(Path(sys.executable).with_name("mailroom"))


@pytest.fixture
def default_console_port_taken() -> Iterator[None]:
    """Port 8025 held (by this socket, or already by someone else)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with contextlib.suppress(OSError):
        holder.bind(("127.0.0.1", DEFAULT_PORT))
        holder.listen()
    yield
    holder.close()


@pytest.mark.usefixtures("default_console_port_taken")
def test_local_up_serves_the_console_on_a_free_port_when_8025_is_taken_and_local_info_names_it(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MAILROOM_CONSOLE_PORT"} | {"MAILROOM_STATE_DIR": str(tmp_path)}
    up = subprocess.Popen(
        [MAILROOM, "local", "up", "--aws-port", "0", "--smtp-port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        info: dict[str, str] = {}
        while "console_url" not in info:
            assert up.poll() is None, up.stderr.read() if up.stderr else ""
            assert time.monotonic() < deadline, "local up never said where its console is"
            time.sleep(0.5)
            listed = subprocess.run([MAILROOM, "local", "info", "--json"], env=env, capture_output=True, text=True)
            info = json.loads(listed.stdout) if listed.returncode == 0 else {}
        assert info["console_url"].startswith("http://127.0.0.1:")
        assert not info["console_url"].endswith(f":{DEFAULT_PORT}/")
        with urllib.request.urlopen(info["console_url"] + "emails", timeout=10) as answer:
            page = answer.read().decode()
        assert answer.status == 200
        assert "replay allowed" in page  # the developer's own stack
        assert '<tbody id="rows"' in page
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)
    assert up.returncode == 0
    assert up.stderr is not None
    assert f"port {DEFAULT_PORT} is taken" in up.stderr.read()
