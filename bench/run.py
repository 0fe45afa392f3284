"""Benchmark of the provisioner CLI at a simulated AWS latency (issue 8). A script, not a test.

What it measures
    For specs/market-data.yaml and for generated specs of N units (a unit is an SQS queue, an on-demand
    DynamoDB table, a Lambda function with its generated role and log group, granted access to its own
    table and queue, and an error-rate alarm on it), five steps in a row:

        apply     apply from empty
        diff      no-op diff
        apply0    no-op apply (expected: zero writes)
        drift     diff after one out-of-band change (one function's MemorySize)
        destroy   destroy

    each at --parallelism 1 and at the CLI's default parallelism (no flag passed). For every step:
    wall seconds, API calls and writes (the CLI's own count: "api_calls" of its --output json), the
    HTTP requests that actually went through the latency proxy (an independent count, retries and
    waiter polls included), and the peak memory (max RSS) of the CLI process.

How
    * A moto server (provisioner.local.start_server) plays AWS; it is reset (POST /moto-api/reset)
      before every spec x parallelism run, so every run starts from empty; then every service gets one
      read straight to moto (WARM_UP), so that moto's lazy backend start after a reset (IAM about
      0.5 s, Lambda about 1.3 s) is not counted as the tool's apply time.
    * The CLI talks to a small HTTP proxy in this process (ThreadingHTTPServer + http.client,
      keep-alive on both sides) that sleeps --latency-ms (default 50) before forwarding each request
      to moto. It sits outside our code, so every call pays the latency: waiter polls, paginated pages,
      retries, calls of any client. See bench/README.md.
    * The installed console script (.venv/bin/provisioner) runs as a subprocess per step, with dummy
      credentials and --endpoint-url pointing at the proxy. Seconds are time.perf_counter() around the
      whole process (interpreter start included: what a user waits for). Peak memory is ru_maxrss of
      that very process, from os.wait4(pid) (kernel accounting, no wrapper, no sampling).
    * The out-of-band change for the drift step goes to moto directly with boto3, not through the
      proxy, so it is neither delayed nor counted.

Results are printed as a table, next to the issue's targets (shown, never enforced), and written to
bench/results.json with the latency, date and machine. Exit code 1 only if a CLI step itself failed
(unexpected exit code or output), never because a target was missed.

    .venv/bin/python bench/run.py        # default (make bench): market-data, N = 1, 10, 50; about 4 min
    .venv/bin/python bench/run.py --sizes 1,10,50,200 --serial-up-to 200    # full matrix: about an hour (estimate)
"""
from __future__ import annotations

import argparse
import compileall
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
from emulator_proxy import LatencyProxy  # beside this script

from provisioner import __version__
from provisioner.cli import apply as apply_command
from provisioner.local import free_port, start_server

ROOT = Path(__file__).resolve().parents[1]
MARKET_DATA = ROOT / "specs" / "market-data.yaml"
CLI = shutil.which("provisioner", path=str(Path(sys.executable).parent)) or shutil.which("provisioner")
DEFAULT_PARALLELISM = next(p.default for p in apply_command.params if p.name == "parallelism")
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
STEPS = ("apply", "diff", "apply0", "drift", "destroy")

# Issue 8 targets at 50 ms per call. Terraform 1.11's figures on market-data: apply 232 calls, no-op plan
# 114 calls. (spec, step) -> (max seconds, max calls, max writes); None: no target for that figure.
TARGETS = {
    ("market-data", "apply"): (3.5, 231, None),
    ("market-data", "diff"): (1.0, 57, 0),
    ("market-data", "apply0"): (1.0, 57, 0),
    ("market-data", "destroy"): (2.0, None, None),
    ("N=50", "apply"): (20.0, None, None),
    ("N=50", "diff"): (2.0, None, 0),
    ("N=50", "apply0"): (2.0, None, 0),
}
SPEEDUP_TARGET = 5.0        # N = 50: default parallelism at least 5x faster than --parallelism 1 (apply)
MEMORY_TARGET_MB = 150.0    # peak memory at N = 200


# --- specs -------------------------------------------------------------------------------------------

HANDLER = 'def handler(event, context):\n    return {"ok": True}\n'


def generated_spec(units: int, folder: Path) -> Path:
    """A spec of `units` units in `folder` (with the handler code in folder/code); returns its path."""
    (folder / "code").mkdir(parents=True, exist_ok=True)
    (folder / "code" / "app.py").write_text(HANDLER)
    lines = ["version: 1", "project: bench", f"environment: n{units}", f"region: {REGION}", "sqs_queues:"]
    lines += [f"  q{i}: {{}}" for i in range(1, units + 1)]
    lines.append("dynamodb_tables:")
    for i in range(1, units + 1):
        lines += [f"  t{i}:", "    partition_key: {name: id, type: S}", "    billing: on_demand"]
    lines.append("lambda_functions:")
    for i in range(1, units + 1):
        lines += [f"  f{i}:", "    code: code", "    handler: app.handler",
                  f"    grants: [{{dynamodb_table: t{i}, access: read_write}}, {{sqs_queue: q{i}, access: send}}]"]
    lines.append("alarms:")
    for i in range(1, units + 1):
        lines += [f"  f{i}-errors:",
                  f"    error_rate: {{function: f{i}, threshold_percent: 1, periods: 2, period: 300}}"]
    path = folder / f"bench-n{units}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# --- running the CLI ---------------------------------------------------------------------------------

def reference_loop_ms() -> float:
    """Milliseconds a fixed pure-Python loop takes here now (median of 5). The steps are mostly CPU-bound
    on a small machine (the CLI, moto and the proxy share it), and a shared machine's speed drifts by tens
    of percent within an hour: this figure, taken before and after the steps, says how fast it was."""
    def once():
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i * i % 7
        return time.perf_counter() - started
    return round(statistics.median(once() for _ in range(5)) * 1000, 1)


def run_cli(args: list[str], env: dict, workdir: Path) -> dict:
    """Run the CLI once: exit code, wall seconds, peak RSS (MB) of that process, stdout, stderr."""
    out_path, err_path = workdir / "stdout", workdir / "stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen([CLI, *args], stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)     # rusage of exactly this child
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"code": process.returncode, "seconds": seconds, "peak_mb": usage.ru_maxrss / 1024,
            "stdout": out_path.read_text(), "stderr": err_path.read_text()}


# One cheap read per service, sent straight to moto after a reset (not through the proxy, not counted):
# moto builds a service's backend on its first request after a reset, and for IAM (which loads the AWS
# managed policies) and Lambda that takes about 0.5 s and 1.3 s on a 2-CPU machine, during which the
# server answers nobody else. Cold start of the emulator, not of the tool: AWS has none.
WARM_UP = {
    "iam": lambda c: c.list_roles(), "lambda": lambda c: c.list_functions(), "sqs": lambda c: c.list_queues(),
    "dynamodb": lambda c: c.list_tables(), "s3": lambda c: c.list_buckets(), "kms": lambda c: c.list_keys(),
    "logs": lambda c: c.describe_log_groups(), "sns": lambda c: c.list_topics(),
    "apigateway": lambda c: c.get_rest_apis(), "cloudwatch": lambda c: c.describe_alarms(),
    "stepfunctions": lambda c: c.list_state_machines(), "events": lambda c: c.list_rules(),
    "resourcegroupstaggingapi": lambda c: c.get_resources(), "sts": lambda c: c.get_caller_identity(),
    "cloudfront": lambda c: c.list_distributions(), "secretsmanager": lambda c: c.list_secrets(),
    "ec2": lambda c: c.describe_vpcs(),
}


def reset(moto_url: str) -> None:
    """Empty the emulator, then wake every service's backend (WARM_UP), from a child process: clients
    built here would grow this process, and a child's peak RSS starts from its parent's at fork."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=30).read()
    subprocess.run([sys.executable, __file__, "--warm-up", moto_url], check=True)


def warm_up(moto_url: str) -> None:
    for service, read in WARM_UP.items():
        read(boto3.client(service, endpoint_url=moto_url, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing"))


def drift_function(moto_url: str, function_name: str) -> None:
    """The out-of-band change: another MemorySize, straight to moto (no proxy, no latency, not counted)."""
    client = boto3.client("lambda", endpoint_url=moto_url, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    memory = client.get_function_configuration(FunctionName=function_name)["MemorySize"]
    client.update_function_configuration(FunctionName=function_name, MemorySize=memory + 64)


def check(step: str, result: dict, expected_code: int, drifted: str) -> tuple[dict, list[str], str | None]:
    """(JSON output, changed fields, problem or None) of one step."""
    try:
        output = json.loads(result["stdout"])
        output["api_calls"]["total"]
    except (ValueError, KeyError, TypeError):
        return {}, [], f"exit {result['code']}, no JSON api_calls on stdout"
    changed = [f"{c['address']}.{f['path']}" if f else c["address"]
               for c in output.get("changes", []) for f in c["fields"] or [None]]
    if result["code"] != expected_code:
        return output, changed, f"exit {result['code']}, expected {expected_code}"
    if step == "apply0" and output["api_calls"]["writes"]:
        return output, changed, f"no-op apply made {output['api_calls']['writes']} write calls"
    if step == "drift" and f"lambda_functions.{drifted}.memory" not in changed:
        return output, changed, f"the out-of-band MemorySize change was not reported (changes: {changed})"
    return output, changed, None


def run_spec(label: str, units: int | None, spec: Path, drift: tuple[str, str], parallelism: int | None,
             moto_url: str, proxy: LatencyProxy, env: dict, workdir: Path, repeat: int = 1) -> list[dict]:
    """The five steps `repeat` times (each from a reset emulator); each step's row is the run with the
    median seconds, with every run's seconds in "seconds_runs"."""
    runs = [run_steps(label, units, spec, drift, parallelism, moto_url, proxy, env, workdir)
            for _ in range(repeat)]
    rows = []
    for attempts in zip(*runs, strict=True):
        failed = [row for row in attempts if row["problem"]]
        chosen = failed[0] if failed else sorted(attempts, key=lambda r: r["seconds"])[len(attempts) // 2]
        row = {**{k: v for k, v in chosen.items() if k != "stderr_tail"},
               "seconds_runs": [r["seconds"] for r in attempts]}
        rows.append(row)
        print_row(row)
        if row["problem"]:
            print(f"    !! {row['problem']}\n    stderr (last lines):",
                  *("      " + line for line in chosen["stderr_tail"]), sep="\n", flush=True)
    return rows


def run_steps(label: str, units: int | None, spec: Path, drift: tuple[str, str], parallelism: int | None,
              moto_url: str, proxy: LatencyProxy, env: dict, workdir: Path) -> list[dict]:
    """The five steps on one spec at one parallelism (None: the CLI default, no flag).
    drift: (logical name, physical name) of the function changed out of band."""
    reset(moto_url)
    common = ["--endpoint-url", proxy.url, "--no-color", "--output", "json"]
    if parallelism is not None:
        common += ["--parallelism", str(parallelism)]
    commands = {    # step -> (arguments, expected exit code)
        "apply": (["apply", str(spec), "--yes"], 0),
        "diff": (["diff", str(spec)], 0),
        "apply0": (["apply", str(spec), "--yes"], 0),
        "drift": (["diff", str(spec)], 2),
        "destroy": (["destroy", str(spec), "--yes"], 0),
    }
    rows = []
    for step in STEPS:
        if step == "drift":
            drift_function(moto_url, drift[1])
        args, expected_code = commands[step]
        proxy.take_count()
        result = run_cli(args + common, env, workdir)
        http_requests = proxy.take_count()
        output, changed, problem = check(step, result, expected_code, drift[0])
        calls = output.get("api_calls", {})
        rows.append({
            "spec": label, "units": units, "parallelism": parallelism or DEFAULT_PARALLELISM,
            "parallelism_flag": parallelism, "step": step, "seconds": round(result["seconds"], 3),
            "calls": calls.get("total"), "writes": calls.get("writes"), "http_requests": http_requests,
            "peak_mb": round(result["peak_mb"], 1), "exit_code": result["code"], "problem": problem,
            "changes": changed if step in ("diff", "drift") else
            {k: output.get(k) for k in ("created", "updated", "replaced", "deleted")},
            "by_operation": calls.get("by_operation", {}),
        })
        rows[-1]["stderr_tail"] = result["stderr"].strip().splitlines()[-15:] if problem else []
    return rows


# --- output ------------------------------------------------------------------------------------------

HEADER = (f"{'spec':<12} {'N':>4} {'par':>4} {'step':<8} {'seconds':>8} {'calls':>6} {'writes':>6} "
          f"{'http':>6} {'peak MB':>8}  target")


def target_text(row: dict) -> str:
    key = ("market-data" if row["spec"] == "market-data" else f"N={row['units']}", row["step"])
    if key not in TARGETS or row["parallelism_flag"] is not None:
        return ""
    max_seconds, max_calls, max_writes = TARGETS[key]
    parts = []
    for value, limit, text in ((row["seconds"], max_seconds, f"<= {max_seconds} s"),
                               (row["calls"], max_calls, f"<= {max_calls} calls"),
                               (row["writes"], max_writes, f"{max_writes} writes" if max_writes == 0 else "")):
        if limit is not None and value is not None:
            parts.append(f"{text} {'met' if value <= limit else 'MISSED'}")
    return "; ".join(parts)


def print_row(row: dict) -> None:
    def number(value, fmt):
        return format("-" if value is None else value, fmt)
    flag = " !" if row["problem"] else ""
    print(f"{row['spec']:<12} {number(row['units'], '>4')} {row['parallelism']:>4} {row['step']:<8} "
          f"{row['seconds']:>8.2f} {number(row['calls'], '>6')} {number(row['writes'], '>6')} "
          f"{row['http_requests']:>6} {row['peak_mb']:>8.1f}  {target_text(row)}{flag}", flush=True)


def find(rows, spec, step, parallelism_flag, units=None):
    return next((r for r in rows if r["spec"] == spec and r["step"] == step and r["units"] == units
                 and r["parallelism_flag"] == parallelism_flag), None)


def summary(rows: list[dict], sizes: list[int]) -> list[str]:
    """The targets that need more than one row: speed-up, growth with N, memory at N = 200."""
    lines = []
    for step in ("apply", "diff", "destroy"):
        serial, default = find(rows, "generated", step, 1, 50), find(rows, "generated", step, None, 50)
        if serial and default:
            speedup = serial["seconds"] / default["seconds"]
            mark = f" (target >= {SPEEDUP_TARGET:.0f}x {'met' if speedup >= SPEEDUP_TARGET else 'MISSED'})" \
                if step == "apply" else ""
            lines.append(f"N=50 {step}: --parallelism {DEFAULT_PARALLELISM} is {speedup:.1f}x faster than "
                         f"--parallelism 1{mark}")
    if not find(rows, "generated", "apply", 1, 50):
        lines.append("N=50 speed-up: not measured (add --serial-up-to 50)")
    pairs = list(zip(sizes, sizes[1:], strict=False))
    for step in ("apply", "diff", "destroy"):
        for small, large in pairs:
            a, b = find(rows, "generated", step, None, small), find(rows, "generated", step, None, large)
            if not (a and b and a["calls"] and b["calls"]):
                continue
            ratio = large / small
            t, c = b["seconds"] / a["seconds"], b["calls"] / a["calls"]
            verdict = "met" if t <= ratio and c <= ratio else "MISSED"
            lines.append(f"growth {step} N={small}->{large} (x{ratio:g}): seconds x{t:.2f}, calls x{c:.2f} "
                         f"(target: no worse than linear, {verdict})")
    peak = [r["peak_mb"] for r in rows if r["units"] == 200]
    lines.append(f"peak memory at N=200: {max(peak):.1f} MB (target < {MEMORY_TARGET_MB:.0f} MB "
                 f"{'met' if max(peak) < MEMORY_TARGET_MB else 'MISSED'})" if peak else
                 "peak memory at N=200: not measured (add 200 to --sizes)")
    return lines


# --- main ----------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="latency added to every call (default 50)")
    parser.add_argument("--sizes", default="1,10,50", help="unit counts of the generated specs (default 1,10,50)")
    parser.add_argument("--serial-up-to", type=int, default=1, metavar="N",
                        help="also run at --parallelism 1: market-data and the generated specs of at most N "
                             "units (default 1; 0: market-data only; -1: none)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="run every spec x parallelism K times and report each step's median (default 1)")
    parser.add_argument("--no-market-data", action="store_true", help="skip specs/market-data.yaml")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json",
                        help="results file (default bench/results.json)")
    parser.add_argument("--warm-up", metavar="MOTO_URL", help=argparse.SUPPRESS)   # reset()'s child
    options = parser.parse_args()
    if options.warm_up:
        warm_up(options.warm_up)
        return 0
    sizes = sorted({int(s) for s in options.sizes.split(",") if s.strip()})
    if not CLI:
        print("the provisioner console script is not installed (make install)", file=sys.stderr)
        return 1

    compileall.compile_dir(ROOT / "provisioner", quiet=1)   # as `make install` does (see the Makefile)
    workdir = Path(tempfile.mkdtemp(prefix="provisioner-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CREDENTIALS, PROVISIONER_STATE_DIR=str(workdir / "state"))
    moto = start_server(port=free_port(), log_path=workdir / "moto.log")
    moto_url = f"http://127.0.0.1:{moto.port}"
    proxy = LatencyProxy(moto.port, options.latency_ms / 1000)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()

    runs = []    # (label, units, spec path, (logical, physical) name of the function to drift, parallelism flags)
    serial = [1, None]
    if not options.no_market_data:
        runs.append(("market-data", None, MARKET_DATA, ("processing", "market-data-dev-processing"),
                     serial if options.serial_up_to >= 0 else [None]))
    for units in sizes:
        spec = generated_spec(units, workdir / f"n{units}")
        runs.append(("generated", units, spec, ("f1", f"bench-n{units}-f1"),
                     serial if units <= options.serial_up_to else [None]))

    print(f"provisioner {__version__} benchmark: {options.latency_ms:g} ms per call through a proxy to moto; "
          f"par {DEFAULT_PARALLELISM} = the CLI default (no flag)")
    print("calls/writes: the CLI's own count (--output json api_calls); http: requests seen by the proxy; "
          "steps: apply (from empty), diff (no-op), apply0 (no-op apply), drift (diff after one out-of-band "
          "change), destroy\n")
    baseline = {    # what every step pays before its first call: interpreter, imports, spec loading and checks
        "version_seconds": round(run_cli(["--version"], env, workdir)["seconds"], 3),
        "validate_market_data_seconds": round(run_cli(["validate", str(MARKET_DATA)], env, workdir)["seconds"], 3),
    }
    baseline["reference_loop_ms_before"] = reference_loop_ms()
    print(f"CLI start-up without AWS calls: `provisioner --version` {baseline['version_seconds']:.2f} s, "
          f"`provisioner validate specs/market-data.yaml` {baseline['validate_market_data_seconds']:.2f} s; "
          f"machine speed: reference loop {baseline['reference_loop_ms_before']:.0f} ms\n")
    print(HEADER)
    started = time.perf_counter()
    rows = []
    try:
        for label, units, spec, drift, flags in runs:
            for parallelism in flags:
                rows += run_spec(label, units, spec, drift, parallelism, moto_url, proxy, env, workdir,
                                 options.repeat)
    finally:
        proxy.shutdown()
        proxy.server_close()
        moto.terminate()
        moto.wait(timeout=10)
    total = time.perf_counter() - started
    baseline["reference_loop_ms_after"] = reference_loop_ms()

    notes = summary(rows, sizes)
    print(f"\nmachine speed: reference loop {baseline['reference_loop_ms_before']:.0f} ms before the steps, "
          f"{baseline['reference_loop_ms_after']:.0f} ms after (lower is faster)")
    for line in notes:
        print(line)
    failed = [r for r in rows if r["problem"]]
    print(f"\n{len(rows)} steps in {total:.0f} s; {len(failed)} failed" + (
        ": " + ", ".join(f"{r['spec']} N={r['units']} p{r['parallelism']} {r['step']}" for r in failed)
        if failed else ""))

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "latency_ms": options.latency_ms,
        "repeat": options.repeat,
        "provisioner_version": __version__,
        "default_parallelism": DEFAULT_PARALLELISM,
        "machine": {"python": platform.python_version(), "implementation": platform.python_implementation(),
                    "platform": platform.platform(), "cpu_count": os.cpu_count()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "total_seconds": round(total, 1),
        "baseline": baseline,
        "targets": {f"{spec} {step}": {"max_seconds": s, "max_calls": c, "max_writes": w}
                    for (spec, step), (s, c, w) in TARGETS.items()},
        "summary": notes,
        "results": rows,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {options.output}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
