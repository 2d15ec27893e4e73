"""Check time against plan time for 500 sites, measured in the same run.

`hybridctl check` = the plan (the program under mocks) + the policies. The policies' share is
(check - plan) / plan; goal: at most 10%. Each repeat runs the program once and times the
policy evaluation on what it captured, as `hybridctl check` does.
Run: .venv/bin/python benchmarks/check_scale.py [SITES]
"""

from __future__ import annotations

import datetime as dt
import gc
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore", category=DeprecationWarning)

from benchmarks.stacks import stack_with_sites  # noqa: E402
from hybridctl.capture import capture  # noqa: E402
from hybridctl.evaluate import evaluate  # noqa: E402
from hybridctl.policy_pack import PACK_DIR  # noqa: E402
from hybridctl.policy_pack import hybrid_policies as hp  # noqa: E402

REPEATS = 3


def main() -> None:
    sites = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    stack = stack_with_sites(sites)
    config = hp.load_config(PACK_DIR / "config.prod.json", hp.POLICY_NAMES)
    plan_times, policy_times = [], []
    for repeat in range(REPEATS):
        gc.collect()  # each run starts from the same heap
        started = time.perf_counter()
        captured = capture(stack)
        plan_times.append(time.perf_counter() - started)
        gc.collect()
        started = time.perf_counter()
        result = evaluate(captured, config, stack_file="bench", now=dt.datetime.now(dt.UTC))
        policy_times.append(time.perf_counter() - started)
        print(
            f"  run {repeat + 1}: plan {plan_times[-1]:.2f} s, policies {policy_times[-1]:.2f} s "
            f"({result.resources_checked} resources, {len(result.findings)} findings)",
            flush=True,
        )
    plan, policies = statistics.median(plan_times), statistics.median(policy_times)
    share = policies / plan
    print(
        f"check_scale: {sites} sites: plan {plan:.2f} s, check {plan + policies:.2f} s; "
        f"policies add {share:.1%} (goal <= 10%) {'ok' if share <= 0.10 else 'OVER GOAL'}"
    )


if __name__ == "__main__":
    main()
