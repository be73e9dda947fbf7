#!/usr/bin/env bash
# Offline checks of template.yaml (make template-check): nothing here talks to AWS.
#   1. cfn-lint on the SAM template, in the EU regions where SES receives mail
#   2. aws-sam-translator: the SAM template -> plain CloudFormation (.aws-sam/translated.json), state machine
#      definition inlined, then cfn-lint on that (it sees what cfn-lint skips around SAM resources: DESIGN §6)
#   3. checkov on both (skips: Metadata in template.yaml, reasons in docs/template-exceptions.md)
#   4. sam validate --lint
# Tools: .venv (cfn-lint, from moto), .venv-tools/sam (aws-sam-cli + aws-sam-translator), .venv-tools/checkov.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPLATE=template.yaml
TRANSLATED=.aws-sam/translated.json
CFN_LINT=.venv/bin/cfn-lint
SAM_PY=.venv-tools/sam/bin/python
SAM=.venv-tools/sam/bin/sam
CHECKOV=.venv-tools/checkov/bin/checkov
LINT_REGIONS=(eu-west-1 eu-west-2 eu-central-1)

for tool in "$CFN_LINT" "$SAM_PY" "$SAM" "$CHECKOV"; do
    [[ -x $tool ]] || { echo "missing $tool: run make setup tools" >&2; exit 1; }
done

# Fake credentials and a fixed region: a real profile on a developer's machine is never picked up.
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_ACCESS_KEY_ID=offline-check AWS_SECRET_ACCESS_KEY=offline-check
export AWS_DEFAULT_REGION=eu-west-1 AWS_REGION=eu-west-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0

step() { printf '\n== %s\n' "$*"; }

step "cfn-lint $TEMPLATE (${LINT_REGIONS[*]})"
"$CFN_LINT" --regions "${LINT_REGIONS[@]}" -- "$TEMPLATE"

step "aws-sam-translator: $TEMPLATE -> $TRANSLATED"
"$SAM_PY" tools/sam_translate.py "$TEMPLATE" "$TRANSLATED"

step "cfn-lint $TRANSLATED"
"$CFN_LINT" --regions "${LINT_REGIONS[@]}" -- "$TRANSLATED"

step "checkov $TEMPLATE $TRANSLATED"
# One run for both files. --skip-download: no Prisma Cloud API calls (offline); --quiet: failed checks only.
"$CHECKOV" -f "$TEMPLATE" -f "$TRANSLATED" --framework cloudformation --skip-download --quiet --compact

step "sam validate --lint"
"$SAM" validate --lint --region eu-west-1 --template-file "$TEMPLATE"

printf '\ntemplate-check: all green\n'
