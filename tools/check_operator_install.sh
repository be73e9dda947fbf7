#!/usr/bin/env bash
# The operator CLI stands apart from the emulator (issue 13): in a fresh venv, `pip install .` (no extras)
# gives a `mailroom` that starts, has no moto, says how to get `local`, and reads a deployed stack
# described by CloudFormation (served here by moto from the dev venv, on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3.11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet .
cli="$work/venv/bin/mailroom"

"$cli" --help >/dev/null
if "$work/venv/bin/python" -c "import moto" 2>/dev/null; then
    echo "operator install: moto is importable without the local extra" >&2; exit 1
fi
if out=$("$cli" local info 2>&1); then
    echo "operator install: 'mailroom local info' succeeded without the local extra" >&2; exit 1
fi
grep -q "pip install 'mailroom\[local\]'" <<<"$out" || { echo "operator install: no hint in: $out" >&2; exit 1; }
grep -q Traceback <<<"$out" && { echo "operator install: traceback: $out" >&2; exit 1; }

# A deployed stack on moto (dev venv); the fresh venv's CLI reads it through CloudFormation outputs.
coproc SERVER { .venv/bin/python tools/serve_deployed_stack.py; }
read -r port <&"${SERVER[0]}"
export AWS_ACCESS_KEY_ID=check AWS_SECRET_ACCESS_KEY=check AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export MAILROOM_STATE_DIR="$work/state"
rows=$("$cli" --stack mailroom-prod --region eu-west-1 --endpoint-url "http://127.0.0.1:$port" emails --status failed --json)
"$work/venv/bin/python" - "$rows" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])
assert [(r["message_id"], r["status"], r["step"]) for r in rows] == [("v" * 40, "failed", "Archive")], rows
PY
# The console serves the same stack (read-only: no --allow-replay) from the operator install.
"$cli" --stack mailroom-prod --region eu-west-1 --endpoint-url "http://127.0.0.1:$port" console --port 0 \
    2>"$work/console.log" &
console_pid=$!
"$work/venv/bin/python" - "$work/console.log" <<'PY'
import re, sys, time, urllib.request
deadline = time.monotonic() + 30
while not (found := re.search(r"http://127\.0\.0\.1:\d+/", open(sys.argv[1]).read())):
    assert time.monotonic() < deadline, open(sys.argv[1]).read()
    time.sleep(0.2)
page = urllib.request.urlopen(found.group(0) + "emails?status=failed", timeout=10).read().decode()
assert 'data-id="' + "v" * 40 + '"' in page and "read-only" in page, page[:2000]
PY
kill "$console_pid"
exec {SERVER[1]}>&-  # the server stops when its input closes
# Without a region the CLI says so in one line (exit 1), no traceback.
if out=$(env -u AWS_REGION -u AWS_DEFAULT_REGION "$cli" --stack mailroom-prod emails 2>&1); then
    echo "operator install: --stack without a region succeeded" >&2; exit 1
fi
[[ $(wc -l <<<"$out") -eq 1 ]] && ! grep -q Traceback <<<"$out" || { echo "operator install: $out" >&2; exit 1; }
echo "operator install: mailroom without moto, local extra hinted, deployed stack read (${#rows} bytes of JSON)"
