"""Run every benchmark in turn (`make bench`): decrypt, when present, then parse."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SUITES = ("bench_decrypt", "bench_parse")


def main() -> None:
    """Print the environment, then each benchmark's `main()` output."""
    sys.path.insert(0, str(BENCH))
    print(f"# mailroom benchmarks, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}\n")
    print(f"- Python {platform.python_version()} ({platform.python_implementation()})")
    print(f"- {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    for name in SUITES:
        print(f"\n## {name}\n", flush=True)
        if not (BENCH / f"{name}.py").exists():
            print(f"(bench/{name}.py not present: skipped)")
            continue
        importlib.import_module(name).main()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
