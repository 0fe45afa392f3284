#!/usr/bin/env bash
# The story `make demo` tells: validate, plan, apply, outputs, an out-of-band change, diff
# catching it, apply repairing it, destroy — all on the embedded emulator, which is stopped at the end.
set -euo pipefail
P="$BIN/provisioner"
trap '"$P" local stop >/dev/null 2>&1 || true' EXIT
# bold headings only on a terminal and without NO_COLOR (no-color.org), like the tool's own output
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then B=$'\033[1m' R=$'\033[0m'; else B='' R=''; fi
step() { printf '\n%s== %s%s\n' "$B" "$*" "$R"; }

step "validate $SPEC (no AWS call)"
"$P" validate "$SPEC"
step "plan against the embedded emulator (exit 2: changes pending)"
"$P" diff "$SPEC" --local || test $? -eq 2
step "apply"
"$P" apply "$SPEC" --local --yes
step "outputs"
"$P" outputs "$SPEC" --local
step "diff right after apply (exit 0: in sync)"
"$P" diff "$SPEC" --local
step "out-of-band change: someone cuts the processing function to 512 MB and 5 concurrent runs with boto3"
"$PY" - <<'PY'
import boto3
from provisioner import local
lam = boto3.client("lambda", endpoint_url=local.status()["endpoint_url"], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
lam.update_function_configuration(FunctionName="market-data-dev-processing", MemorySize=512)
lam.put_function_concurrency(FunctionName="market-data-dev-processing", ReservedConcurrentExecutions=5)
print("market-data-dev-processing now has 512 MB and reserved concurrency 5")
PY
step "diff catches the drift (exit 2)"
"$P" diff "$SPEC" --local || test $? -eq 2
step "apply repairs it"
"$P" apply "$SPEC" --local --yes
"$P" diff "$SPEC" --local
step "destroy everything the environment owns"
"$P" destroy "$SPEC" --local --yes
step "done: stopping the emulator"
