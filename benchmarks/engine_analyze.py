"""The served pack's AnalyzeStack time next to hybridctl's policy time, at 500 sites, one run.

The pack runs in its own virtualenv as the engine runs it (tests/engine harness, over gRPC);
hybridctl evaluates the same capture in-process. Reported as ratios to hybridctl's time:
- AnalyzeStack: the one call `pulumi up` makes at the end (every resource's outputs);
- Analyze: the per-resource calls (Remediate + Analyze each), as the engine makes them;
- hybridctl's stack policies alone, the like-for-like part of AnalyzeStack.
Run: .venv/bin/python benchmarks/engine_analyze.py [SITES]
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore", category=DeprecationWarning)

from pulumi_policy import StackValidationPolicy  # noqa: E402

from benchmarks.check_scale import listing_document  # noqa: E402
from benchmarks.stacks import stack_with_sites  # noqa: E402
from hybridctl.capture import capture  # noqa: E402
from hybridctl.engine import PolicyInputs, run_policies  # noqa: E402
from hybridctl.evaluate import evaluate  # noqa: E402
from hybridctl.policy_pack import PACK_DIR  # noqa: E402
from hybridctl.policy_pack import hybrid_policies as hp  # noqa: E402
from tests.engine.engine_host import (  # noqa: E402
    LINUX_MAX_ENV_STRING,
    EngineHost,
    PolicyPack,
    StackContext,
)
from tests.engine.pack_venv import ensure_pack_venv  # noqa: E402

REPEATS = 3


def main() -> None:
    sites = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    stack = stack_with_sites(sites)
    python = ensure_pack_venv(PACK_DIR)
    started = time.perf_counter()
    captured = capture(stack)
    print(
        f"  captured {len(captured.resources)} resources in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    # Compliance's prod config listing the synthetic sites (as check_scale.py uses it), in a
    # file for the pack process; hybridctl evaluates with the same config.
    folder = Path(tempfile.mkdtemp(prefix="engine-analyze-"))
    config_path = folder / "config.bench.json"
    config_path.write_text(json.dumps(listing_document(captured)), encoding="utf-8")
    config = hp.load_config(config_path, hp.POLICY_NAMES)
    host = EngineHost()
    full = StackContext.of(stack, dry_run=False)
    context: StackContext | None = full
    env = {"HYBRID_POLICY_CONFIG": str(config_path)}
    size = len(f"PULUMI_CONFIG={full.environment()['PULUMI_CONFIG']}".encode()) + 1
    print(
        f"  PULUMI_CONFIG: {size:,} bytes for {sites} sites "
        f"(Linux starts no process with one over {LINUX_MAX_ENV_STRING:,})",
        flush=True,
    )
    if size > LINUX_MAX_ENV_STRING:
        # The language host passes the stack config in one environment variable; Linux caps a
        # single one at 128 KiB, so the CLI could not start the pack (nor the program) here.
        print(
            f"  note: PULUMI_CONFIG would be {size // 1024} KiB, over Linux's 128 KiB limit for "
            "one variable: the Pulumi CLI cannot start a Python program or pack for this stack. "
            "The pack is started as `pulumi policy analyze` starts it (no stack) to time it.",
            flush=True,
        )
        context = None
    ours, ours_stack, stack_times, analyze_times = [], [], [], []
    try:
        with PolicyPack(PACK_DIR, python, host, context, env) as pack:
            for repeat in range(REPEATS):
                gc.collect()
                started = time.perf_counter()
                evaluate(captured, config, stack_file="bench", now=dt.datetime.now(dt.UTC))
                ours.append(time.perf_counter() - started)
                gc.collect()
                policies = [
                    p
                    for p in hp.build_policies(hp.RuleContext(config))
                    if isinstance(p, StackValidationPolicy)
                ]
                started = time.perf_counter()
                run_policies(policies, PolicyInputs(captured))
                ours_stack.append(time.perf_counter() - started)
                gc.collect()
                run = pack.analyze(captured)
                stack_times.append(run.analyze_stack_seconds)
                analyze_times.append(run.analyze_seconds)
                print(
                    f"  run {repeat + 1}: hybridctl policies {ours[-1]:.2f} s (stack policies "
                    f"{ours_stack[-1]:.2f} s); pack AnalyzeStack {stack_times[-1]:.2f} s, "
                    f"Analyze x{len(run.analyzed)} {analyze_times[-1]:.2f} s, "
                    f"{len(run.diagnostics)} diagnostics",
                    flush=True,
                )
    finally:
        host.stop()
        config_path.unlink()
        folder.rmdir()
    base = statistics.median(ours)
    stack_part = statistics.median(ours_stack)
    analyze_stack = statistics.median(stack_times)
    analyze = statistics.median(analyze_times)
    print(
        f"engine_analyze: {sites} sites, {len(captured.resources)} resources: hybridctl policies "
        f"{base:.2f} s; pack AnalyzeStack {analyze_stack:.2f} s = {analyze_stack / base:.2f}x "
        f"(hybridctl's stack policies {stack_part:.2f} s: {analyze_stack / stack_part:.2f}x); "
        f"pack Analyze per resource {analyze:.2f} s = {analyze / base:.2f}x; "
        f"engine total {(analyze + analyze_stack) / base:.2f}x hybridctl"
    )


if __name__ == "__main__":
    main()
