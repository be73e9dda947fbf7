"""Cold start: import time of each handler module, and each function's package size after ``sam build``.

For every function in ``template.yaml`` (Starter, Decrypt, Parse, Archive, Inbox, Recorder, Watchdog)
the handler module is imported in a fresh interpreter, several times; the figure is the median
``perf_counter`` around the import (interpreter start-up excluded). One more run with
``-X importtime`` gives the packages that cost the most (cumulative µs, as importtime reports them).
The baseline, in the same run and the same interpreter: ``import boto3`` alone (every handler needs
it), so a handler's ratio says what our code and its other dependencies add to boto3's cost.

Interpreters:

- ``venv``: the project's ``.venv`` Python with ``PYTHONPATH=lambdas`` (its site-packages: the
  versions the tests run against);
- ``build``: ``python3.13`` with ``PYTHONPATH=.aws-sam/build/<Function>``: exactly what ``sam build``
  packaged, when the build's native wheels match this machine. ``sam build`` targets arm64
  (``Architectures: [arm64]``); on an x86_64 machine its ``.so`` files cannot load, so the bench
  installs the same ``lambdas/requirements.txt`` for this machine into ``.aws-sam/coldstart-host/``
  (once; pip, from the registry) and measures that instead: same Python, same packages, host wheels,
  and the same bytecode state as the build (no ``.pyc`` unless the build has them: Lambda's
  ``/var/task`` is read-only, so a module shipped without bytecode is compiled at every cold start).
  ``--with PACKAGE`` measures that install plus a package as well (a module that fails to import is
  reported as such: the figure a deployed function would not even reach).

Sizes come from ``.aws-sam/build/<Function>``: unzipped bytes and files (Lambda's limit is 250 MB
unzipped), and the zip Lambda would receive (deflate, written to a temporary file), plus the five
largest top-level entries. Run ``make sam-build`` first; without a build only import times print.

    .venv/bin/python bench/bench_coldstart.py [--repeat 7] [--no-build] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailroom_cli.local.template import load_yaml

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
HOST_MIRROR = ROOT / ".aws-sam" / "coldstart-host"
BASELINE = "boto3"
TIMER = "import sys, time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


@dataclass(frozen=True)
class Function:
    """One function of the template."""

    logical_id: str
    module: str
    memory_mb: int


@dataclass(frozen=True)
class Interpreter:
    """A Python and the path its imports come from."""

    label: str
    python: str
    path: str  # PYTHONPATH ("" for none)


def functions(template: Path = ROOT / "template.yaml") -> list[Function]:
    """Every ``AWS::Serverless::Function`` with its handler module and memory (Globals applied)."""
    data = load_yaml(template)
    defaults = data.get("Globals", {}).get("Function", {})
    found = []
    for logical_id, resource in data["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **resource.get("Properties", {})}
        found.append(Function(logical_id, props["Handler"].rpartition(".")[0], int(props.get("MemorySize", 128))))
    return found


# --------------------------------------------------------------------------- import times


def _env(path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))}
    if path:
        env["PYTHONPATH"] = path
    env["AWS_DEFAULT_REGION"] = "eu-west-1"  # what the Lambda runtime sets; no module reads credentials at import
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the build's .pyc (if any) are used, nothing new is written
    return env


def import_seconds(interp: Interpreter, module: str, repeat: int) -> list[float]:
    """``repeat`` fresh-interpreter timings of ``import module``."""
    times = []
    for _ in range(repeat):
        done = subprocess.run(
            [interp.python, "-s", "-c", TIMER.format(module=module)],
            env=_env(interp.path),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            raise ImportFailedError(last)
        times.append(float(done.stdout))
    return times


class ImportFailedError(RuntimeError):
    """The module does not import in that interpreter (the message is the exception's last line)."""


def importtime_top(interp: Interpreter, module: str, top: int = 5, runs: int = 3) -> list[tuple[str, float]]:
    """mailroom's own import time, the standard library's, and the ``top`` third-party packages by cumulative
    import time (ms, median of ``runs`` ``-X importtime`` runs)."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        done = subprocess.run(
            [interp.python, "-s", "-X", "importtime", "-c", f"import {module}"],
            env=_env(interp.path),
            capture_output=True,
            text=True,
            check=True,
        )
        own = stdlib = 0.0
        cumulative: dict[str, float] = {}
        for line in done.stderr.splitlines():
            match = IMPORTTIME.match(line)
            if not match:
                continue
            self_us, cumulative_us, name = int(match.group(1)), int(match.group(2)), match.group(4)
            root = name.split(".")[0]
            if root == "mailroom":
                own += self_us / 1000
            elif root in sys.stdlib_module_names or root.startswith("_"):
                stdlib += self_us / 1000
            elif "." not in name:
                cumulative[name] = max(cumulative.get(name, 0.0), cumulative_us / 1000)
        for name, ms in [("mailroom (self)", own), ("stdlib (self)", stdlib), *cumulative.items()]:
            samples.setdefault(name, []).append(ms)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    fixed = [(name, medians.pop(name)) for name in ("mailroom (self)", "stdlib (self)")]
    return fixed + sorted(medians.items(), key=lambda kv: kv[1], reverse=True)[:top]


def build_has_bytecode() -> bool:
    """Whether the build ships ``.pyc`` files (``tools/sam_build.sh`` compiles them; plain ``sam build`` does not)."""
    return any(BUILD.glob("*Function/mailroom/handlers/__pycache__/*.pyc"))


def host_mirror(python: str, extras: list[str], bytecode: bool) -> Path:
    """``lambdas/requirements.txt`` (+ ``extras``) and ``lambdas/mailroom`` for this machine (pip ``--target``).

    Like the build: without ``.pyc`` files unless the build has them (then compiled the same way), since on
    Lambda ``/var/task`` is read-only and a module without bytecode is compiled at every cold start.
    """
    target = HOST_MIRROR.with_name(HOST_MIRROR.name + "".join(f"+{e}" for e in extras))
    stamp = target / ".requirements"
    wanted = (ROOT / "lambdas" / "requirements.txt").read_text() + "".join(f"{e}\n" for e in extras)
    wanted += f"# bytecode: {bytecode}\n"
    if not (stamp.exists() and stamp.read_text() == wanted):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        print(f"installing lambdas/requirements.txt {' '.join(extras)} into {target} ...", file=sys.stderr)
        command = [python, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(target)]
        subprocess.run([*command, "-r", "lambdas/requirements.txt", *extras], cwd=ROOT, check=True, capture_output=True)
        stamp.write_text(wanted)
    shutil.rmtree(target / "mailroom", ignore_errors=True)
    shutil.copytree(ROOT / "lambdas" / "mailroom", target / "mailroom", ignore=shutil.ignore_patterns("__pycache__"))
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    if bytecode:
        compile_all = [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(target),
        ]
        subprocess.run(compile_all, check=True, capture_output=True)
    return target


def _foreign_binaries(directory: Path) -> bool:
    machine = platform.machine().lower()
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(machine, machine)
    return any(arch not in so.name for so in directory.rglob("*-linux-gnu.so"))


def interpreters(use_build: bool, extras: list[str]) -> list[tuple[Interpreter, dict[str, str]]]:
    """(interpreter, function logical id → PYTHONPATH override) pairs to measure."""
    found: list[tuple[Interpreter, dict[str, str]]] = [
        (Interpreter(f"venv {platform.python_version()}", sys.executable, str(ROOT / "lambdas")), {})
    ]
    python313 = _python313()
    if not use_build or python313 is None:
        return found
    version = subprocess.run([python313, "-c", "import platform; print(platform.python_version())"], **_text()).stdout
    builds = {p.name: str(p) for p in BUILD.glob("*Function")} if BUILD.is_dir() else {}
    if builds and not _foreign_binaries(next(iter(map(Path, builds.values())))):
        found.append((Interpreter(f"sam build, {version.strip()}", python313, ""), builds))
    else:
        bytecode = build_has_bytecode()
        shipped = "with .pyc, as tools/sam_build.sh ships" if bytecode else "sources only, as plain sam build ships"
        label = f"lambdas/requirements.txt for {platform.machine()}, {version.strip()} ({shipped})"
        found.append((Interpreter(label, python313, str(host_mirror(python313, [], bytecode))), {}))
        if extras:
            mirror = str(host_mirror(python313, extras, bytecode))
            found.append((Interpreter(f"{label} + {' '.join(extras)}", python313, mirror), {}))
    return found


def _python313() -> str | None:
    """The real python3.13 executable (through pyenv's shim when needed), or None."""
    candidates = [
        shutil.which("python3.13"),
        *sorted(map(str, Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))),
    ]
    for candidate in filter(None, candidates):
        done = subprocess.run(
            [candidate, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=False
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return None


def _text() -> dict[str, Any]:
    return {"capture_output": True, "text": True, "check": True}


# --------------------------------------------------------------------------- sizes


def package_size(directory: Path) -> dict[str, Any]:
    """Unzipped bytes and files, zipped bytes (deflate), and the five largest top-level entries."""
    files = [p for p in directory.rglob("*") if p.is_file()]
    unzipped = sum(p.stat().st_size for p in files)
    by_entry: dict[str, int] = {}
    for path in files:
        entry = path.relative_to(directory).parts[0]
        by_entry[entry] = by_entry.get(entry, 0) + path.stat().st_size
    with tempfile.TemporaryDirectory(prefix="bench-zip-") as tmp:
        archive = Path(tmp) / "function.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
            for path in files:
                zipped.write(path, path.relative_to(directory))
        zipped_bytes = archive.stat().st_size
    largest = sorted(by_entry.items(), key=lambda kv: kv[1], reverse=True)[:5]
    return {"unzipped": unzipped, "files": len(files), "zipped": zipped_bytes, "largest": largest}


# --------------------------------------------------------------------------- run


def run(repeat: int, use_build: bool, extras: list[str]) -> dict[str, Any]:
    """Import times per interpreter and function, then package sizes."""
    fns = functions()
    results: dict[str, Any] = {"imports": [], "sizes": []}
    for interp, per_function in interpreters(use_build, extras):
        baseline_path = per_function.get(fns[0].logical_id, interp.path)
        base_interp = Interpreter(interp.label, interp.python, baseline_path)
        baseline_ms: list[float] = []
        base_row: dict[str, Any] = {"interpreter": interp.label, "module": f"{BASELINE} (baseline)", "function": "–"}
        results["imports"].append(base_row)
        for fn in fns:
            one = Interpreter(interp.label, interp.python, per_function.get(fn.logical_id, interp.path))
            print(f"  {interp.label}: {fn.module}", file=sys.stderr, flush=True)
            row: dict[str, Any] = {
                "interpreter": interp.label,
                "module": fn.module,
                "function": fn.logical_id,
                "memory_mb": fn.memory_mb,
            }
            try:
                # Interleaved with the baseline, pair by pair: the ratio survives the machine's load drifting.
                pairs = [
                    (import_seconds(base_interp, BASELINE, 1)[0], import_seconds(one, fn.module, 1)[0])
                    for _ in range(repeat)
                ]
            except ImportFailedError as exc:
                row["error"] = str(exc)
            else:
                ms = statistics.median(m for _, m in pairs) * 1000
                ratio = statistics.median(m / b for b, m in pairs)
                row.update(ms=ms, ratio=ratio, top=importtime_top(one, fn.module))
                baseline_ms.extend(b * 1000 for b, _ in pairs)
            results["imports"].append(row)
        if not baseline_ms:
            baseline_ms = [t * 1000 for t in import_seconds(base_interp, BASELINE, repeat)]
        base_row.update(ms=statistics.median(baseline_ms), ratio=1.0)
    if BUILD.is_dir():
        for fn in fns:
            directory = BUILD / fn.logical_id
            if directory.is_dir():
                results["sizes"].append({"function": fn.logical_id, **package_size(directory)})
    return results


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


def tables(results: dict[str, Any], repeat: int) -> str:
    """Markdown: import times (median, ratio to boto3, top packages), then package sizes."""
    out = [
        f"Import time: median of {repeat} fresh interpreters (start-up excluded), each run paired with an "
        "`import boto3` run: the ratio is the median of the pairs' ratios. Largest imports: cumulative ms, "
        "median of 3 `-X importtime` runs (mailroom and the standard library: their own time only).\n",
        "| interpreter | module | median ms | ÷ `import boto3` | largest imports (cumulative ms) |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for row in results["imports"]:
        if "error" in row:
            out.append(f"| {row['interpreter']} | `{row['module']}` | **fails** | – | {row['error']} |")
            continue
        top = ", ".join(f"{name} {ms:.0f}" for name, ms in row.get("top", []))
        out.append(f"| {row['interpreter']} | `{row['module']}` | {row['ms']:.0f} | {row['ratio']:.2f} | {top} |")
    if results["sizes"]:
        out += [
            "",
            "| function (`.aws-sam/build`) | unzipped MB | files | zipped MB | largest entries (unzipped MB) |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for row in results["sizes"]:
            largest = ", ".join(f"{name} {_mb(size)}" for name, size in row["largest"])
            out.append(
                f"| {row['function']} | {_mb(row['unzipped'])} | {row['files']:,} | {_mb(row['zipped'])} | {largest} |"
            )
    else:
        out.append("\n(no .aws-sam/build: run `make sam-build` for package sizes)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the tables (``argv`` defaults to none)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="fresh interpreters per module (median kept)")
    parser.add_argument("--no-build", action="store_true", help="only the project's venv (no python3.13 run)")
    parser.add_argument(
        "--with",
        dest="extras",
        action="append",
        default=[],
        metavar="PACKAGE",
        help="also measure the host install with this package added (what a candidate dependency would cost)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args([] if argv is None else argv)
    results = run(max(1, args.repeat), use_build=not args.no_build, extras=args.extras)
    print("## Cold start: handler import time and package size\n")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print(tables(results, max(1, args.repeat)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
