"""The console in a real browser: Debian's chromium driven by Playwright, against a local stack on loopback.

Chromium comes from the system (`apt-get install chromium`; `make test` and `.ci/run` install it), never
from Playwright's download. Each page's screenshot is saved under ``$MAILROOM_SCREENSHOTS``
(default ``.artifacts/screenshots``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_stack import LOOPBACK, stack, target
from playwright.sync_api import Browser, Page, sync_playwright

from mailroom_cli.console.server import ConsoleServer
from mailroom_cli.target import Target

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.allow_hosts(LOOPBACK)
__all__ = ["stack", "target"]  # one local stack per module, checked for addresses in its executions


def chromium_path() -> str:
    """The system's chromium (``$CHROMIUM`` to point elsewhere); its absence fails the suite, never skips it."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "the browser tests need chromium: apt-get install chromium (make test does it when it can)"
    return found


@pytest.fixture(scope="module")
def console(target: Target) -> Iterator[ConsoleServer]:
    server = ConsoleServer(target, port=0, allow_replay=True, label="local stack", refresh_seconds=0.5).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path())
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    directory = Path(os.environ.get("MAILROOM_SCREENSHOTS") or ROOT / ".artifacts" / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory
