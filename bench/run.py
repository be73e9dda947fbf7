"""Run the benchmarks in turn (`make bench`, `make bench-full`): decrypt, parse, bombs, end to end, cost, cold start.

    .venv/bin/python bench/run.py                          # decrypt, parse, e2e (200 emails), cost model
    .venv/bin/python bench/run.py --e2e 200,1000 --coldstart   # what `make bench-full` runs
    .venv/bin/python bench/run.py --e2e 0                  # decrypt, parse and the cost model only

Each benchmark prints its own markdown tables; figures are never asserted (no benchmark fails on
speed). The end-to-end run writes its JSON to a temporary file that the cost model reads (transitions
counted in histories, Lambda log bytes per email).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def _suite(name: str, argv: list[str] | None) -> None:
    print(f"\n## {name}\n", flush=True)
    if not (BENCH / f"{name}.py").exists():
        print(f"(bench/{name}.py not present: skipped)")
        return
    module = importlib.import_module(name)
    if argv is None:
        module.main()  # bench_parse: no arguments
    else:
        module.main(argv)
    sys.stdout.flush()


def main() -> None:
    """Print the environment, then each selected benchmark's output."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--e2e", default="200", help="email counts for bench_e2e (comma-separated; 0: skip)")
    parser.add_argument("--coldstart", action="store_true", help="also bench_coldstart (import times, sizes)")
    parser.add_argument("--no-cost", action="store_true", help="skip the cost model")
    parser.add_argument("--only-new", action="store_true", help="skip decrypt, parse and bombs")
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH))
    print(f"# mailroom benchmarks, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}\n")
    print(f"- Python {platform.python_version()} ({platform.python_implementation()})")
    print(f"- {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"- load average (1/5/15 min) at the start: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if not args.only_new:
        _suite("bench_decrypt", [])
        _suite("bench_parse", None)
        _suite("bench_bombs", [])
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        e2e_json = Path(tmp) / "e2e.json"
        counts = [n for n in args.e2e.split(",") if n.strip() and int(n) > 0]
        if counts:
            _suite("bench_e2e", ["--emails", ",".join(counts), "--json", str(e2e_json)])
        if not args.no_cost:
            _suite("cost_model", ["--e2e", str(e2e_json)] if e2e_json.exists() else [])
    if args.coldstart:
        _suite("bench_coldstart", [])


if __name__ == "__main__":
    main()
