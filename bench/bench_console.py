"""The console's liveness and page cost, in a real browser (Debian's chromium via Playwright) on a local stack.

    .venv/bin/python bench/bench_console.py --emails 10

Per email sent over SMTP: from the SMTP reply to its row on the Emails page (no reload), and to the row
saying "delivered". Then each page's server time (median of 5 GETs, over loopback), beside the same
request for the static stylesheet as the baseline. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from local_stack import running_stack  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from mailroom_cli import operations as ops  # noqa: E402
from mailroom_cli.console.server import ConsoleServer  # noqa: E402
from mailroom_cli.target import from_local  # noqa: E402


def _get_ms(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:
        answer.read()
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> None:
    """Send emails, watch them arrive in the browser, time the pages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=10)
    args = parser.parse_args(argv)
    with running_stack(Path(tempfile.mkdtemp())) as stack, sync_playwright() as playwright:
        target = from_local(stack.info())
        address = f"bench@{target.name('RecipientDomain')}"
        ops.add_mailbox(target, address, user="bench")
        console = ConsoleServer(target, port=0, allow_replay=True, refresh_seconds=0.5).start()
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
        page = browser.new_page()
        page.goto(console.url + "emails")
        shown, delivered, ids = [], [], []
        for n in range(args.emails):
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "scanner@office.example", address, f"bench {n}"
            message.set_content("x")
            message.add_attachment(
                b"%PDF-1.4 " + bytes(100_000), maintype="application", subtype="pdf", filename="s.pdf"
            )
            message_id = ops.send(stack.info()["smtp"], message, to=[address], sender="scanner@office.example").split()[
                -1
            ]
            sent = time.perf_counter()
            row = page.locator(f'tr[data-id="{message_id}"]')
            row.wait_for(timeout=30_000)
            shown.append(time.perf_counter() - sent)
            page.locator(f'tr[data-id="{message_id}"][data-status="delivered"]').wait_for(timeout=60_000)
            delivered.append(time.perf_counter() - sent)
            ids.append(message_id)
        pages = {
            "static stylesheet (baseline)": "static/console.css",
            "emails": "emails",
            "emails rows (the refresh)": "emails/rows",
            "one email": f"email/{ids[-1]}",
            "inbox": "inbox?user=bench",
            "item": f"item?user=bench&id={ids[-1]}",
            "stats": "stats",
        }
        timings = {
            name: statistics.median(_get_ms(console.url + path) for _ in range(5)) for name, path in pages.items()
        }
        browser.close()
        console.stop()
    print(f"| {args.emails} emails, 100 KiB each | p50 | max |\n| --- | --- | --- |")
    print(f"| SMTP reply → row on the Emails page | {statistics.median(shown):.2f} s | {max(shown):.2f} s |")
    print(f"| SMTP reply → row says delivered | {statistics.median(delivered):.2f} s | {max(delivered):.2f} s |")
    base = timings["static stylesheet (baseline)"]
    print("\n| page | server time (median of 5) | × the stylesheet |\n| --- | --- | --- |")
    for name, ms in timings.items():
        print(f"| {name} | {ms:.1f} ms | {ms / base:.1f}× |")


if __name__ == "__main__":
    main()
