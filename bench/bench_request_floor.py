"""The floor under the e2e bench's CPU per email: what one request to the local stack costs, at the least.

Starts a private ``LocalStack`` (moto with every patch, the real template) and times the cheapest
request there is, DynamoDB GetItem of a one-attribute item, the two ways the pipeline's requests
reach moto:

- over HTTP, as a handler makes it: a boto3 client in another process (as a Lambda execution
  environment is), its CPU per call measured there, the emulator's CPU per call measured here
  (less what the idle stack spends in the same time: its pollers);
- in process, as the emulator makes its own calls: client and moto in this process, one thread.

Administrator credentials: not even the local IAM check of a function's role is in these figures.
One email makes 21 requests over HTTP and 12 in process (counted by a recorder around moto's
dispatcher under the e2e bench's load, docs/benchmarks.md), so the cheapest request's cost times
those counts is a floor under the stack's CPU per email while requests cost what they cost today.
Its client part (botocore, in the handler's process) stays whatever the emulator does; only fewer
requests, or a cheaper server side (moto's request path), lower the rest.

    .venv/bin/python bench/bench_request_floor.py [--calls 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailroom_cli.local.stack import LocalOptions, LocalStack
from mailroom_cli.target import from_local

HTTP_PER_EMAIL = 21  # requests per email reaching moto over HTTP under the e2e bench's load (21.1)
IN_PROCESS_PER_EMAIL = 12  # and in process, the emulator's own calls (11.9; 13.1 before the pollers scaled)


CHILD = """
import json, sys, time, boto3
endpoint, table, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="eu-west-1")
key = {"message_id": {"S": "floor"}}
client.get_item(TableName=table, Key=key)  # first call: the connection, botocore's caches
start = time.process_time()
for _ in range(calls):
    client.get_item(TableName=table, Key=key)
print(json.dumps((time.process_time() - start) * 1000 / calls))
"""


def cpu_ms_per_call(call: Callable[[], Any], calls: int, rounds: int = 3) -> float:
    """Median over ``rounds`` of this process's CPU (all threads) per call, in ms."""
    call()  # first call: caches
    figures = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            call()
        figures.append((time.process_time() - start) * 1000 / calls)
    return statistics.median(figures)


def over_http(endpoint: str, table: str, calls: int) -> tuple[float, float]:
    """(client, emulator) ms of CPU per GetItem made from another process over HTTP."""
    started, wall = time.process_time(), time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, endpoint, table, str(calls)], capture_output=True, text=True, check=True
    )
    served, wall = time.process_time() - started, time.monotonic() - wall
    idle_start = time.process_time()
    time.sleep(wall)  # what the idle stack spends in as long (pollers, the status watcher)
    idle = time.process_time() - idle_start
    return float(json.loads(child.stdout)), max(0.0, served - idle) * 1000 / (calls + 1)


def measure(calls: int) -> dict[str, Any]:
    """Start a stack, time each kind of request, return the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        options = LocalOptions(aws_port=0, smtp_port=0, retry_scale=0.001, lambda_log=Path(tmp) / "lambda.log")
        with LocalStack(options) as stack:
            target = from_local(stack.info())
            table = target.name("StatusTableName")
            key = {"message_id": {"S": "floor"}}
            stack.client("dynamodb").put_item(TableName=table, Item=key)
            internal = stack.internal_client("dynamodb")
            rounds = [over_http(stack.endpoint_url, table, calls) for _ in range(3)]
            figures = {
                "get_item_http_client_ms": statistics.median(r[0] for r in rounds),
                "get_item_http_emulator_ms": statistics.median(r[1] for r in rounds),
                "get_item_in_process_ms": cpu_ms_per_call(lambda: internal.get_item(TableName=table, Key=key), calls),
            }
    figures["get_item_http_ms"] = figures["get_item_http_client_ms"] + figures["get_item_http_emulator_ms"]
    figures["floor_ms_per_email"] = (
        HTTP_PER_EMAIL * figures["get_item_http_ms"] + IN_PROCESS_PER_EMAIL * figures["get_item_in_process_ms"]
    )
    figures["calls"] = calls
    figures["loadavg"] = os.getloadavg()
    return figures


def main(argv: list[str] | None = None) -> int:
    """Measure and print the figures (and write them to ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="calls per kind and round (3 rounds, median)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    figures = measure(args.calls)
    print("## One request to the local stack (ms of CPU per call)\n")
    print("| DynamoDB GetItem, one attribute | client | emulator | both |\n|---|---:|---:|---:|")
    http = (figures["get_item_http_client_ms"], figures["get_item_http_emulator_ms"], figures["get_item_http_ms"])
    print("| over HTTP from another process (as a handler) | {:.2f} | {:.2f} | {:.2f} |".format(*http))
    print(f"| in process (as the emulator's own calls) | | | {figures['get_item_in_process_ms']:.2f} |")
    print(
        f"\nFloor per email: {HTTP_PER_EMAIL} × {figures['get_item_http_ms']:.2f} + "
        f"{IN_PROCESS_PER_EMAIL} × {figures['get_item_in_process_ms']:.2f} = "
        f"**{figures['floor_ms_per_email']:.0f} ms** of CPU (load {figures['loadavg'][0]:.2f})"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
