#!/usr/bin/env bash
# sam build into .aws-sam/build, then the build's duration and each function's unzipped size (make sam-build).
# The python3.13 runtime needs python3.13 on PATH: with pyenv, PYENV_VERSION=3.11.7:3.13.0 (the Makefile sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

SAM=.venv-tools/sam/bin/sam
BUILD_DIR=.aws-sam/build
[[ -x $SAM ]] || { echo "missing $SAM: run make tools" >&2; exit 1; }
command -v python3.13 >/dev/null || { echo "sam build needs python3.13 on PATH (pyenv: PYENV_VERSION=3.11.7:3.13.0)" >&2; exit 1; }

export SAM_CLI_TELEMETRY=0
start=$(date +%s%N)
"$SAM" build --template-file template.yaml --build-dir "$BUILD_DIR"
end=$(date +%s%N)

elapsed_ms=$(((end - start) / 1000000))

# Bytecode for everything shipped. sam build copies sources only (no __pycache__), and /var/task is
# read-only, so without it every cold start compiles boto3, botocore, Powertools and mailroom from
# source again (`import boto3` 0.7-1.7 s instead of 0.25-0.35 s on this VM). unchecked-hash: the zip
# keeps 2-second DOS timestamps, which would fail a mtime check; these .pyc match the sources shipped.
for dir in "$BUILD_DIR"/*Function/; do
    python3.13 -m compileall -q -j 0 --invalidation-mode unchecked-hash "$dir" >/dev/null
done
printf '\nsam build took %d.%01d s\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100))
printf 'unzipped size per function (what Lambda unpacks; the limit is 250 MB):\n'
for dir in "$BUILD_DIR"/*/; do
    name=$(basename "$dir")
    [[ $name == *Function ]] || continue
    printf '  %-18s %8s  (%s files)\n' "$name" "$(du -sh "$dir" | cut -f1)" "$(find "$dir" -type f | wc -l)"
done

# No tracing SDK ships: the X-Ray SDKs are in maintenance mode (support ends 2027-02-25) and
# `Tracing: Active` records the service segments without one. A dependency that drags aws_xray_sdk
# (Powertools' [tracer] extra) back in fails the build here.
for dir in "$BUILD_DIR"/*Function/; do
    [[ -d $dir/mailroom/handlers ]] || { echo "missing mailroom/handlers in $dir" >&2; exit 1; }
    [[ ! -e $dir/aws_xray_sdk ]] || { echo "$dir ships aws_xray_sdk: drop the dependency that pulls it in" >&2; exit 1; }
    [[ -d $dir/mailroom/handlers/__pycache__ && -d $dir/botocore/__pycache__ ]] || { echo "$dir ships no bytecode" >&2; exit 1; }
done
echo "every function ships mailroom/handlers with bytecode, and none ships aws_xray_sdk"
