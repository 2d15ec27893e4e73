"""Plan time for 10, 100 and 500 sites, against the SDK's floor measured in the same run.

The floor is a bare program that registers the same resources (same types, names and inputs, as
captured from the real program; the components as bare ComponentResources of the same types)
flat, with no logic: no parents, no outputs, no apply. It runs under the same mocks and capturing
monitor. Ratio = plan time / floor time (goal: <= 1.2).
Run: .venv/bin/python benchmarks/plan_scale.py [SITES ...]
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore", category=DeprecationWarning)

import re  # noqa: E402

import pulumi  # noqa: E402
import pulumi_aws as aws  # noqa: E402

from benchmarks.stacks import stack_with_sites  # noqa: E402
from hybridctl.capture import capture  # noqa: E402

SIZES = tuple(int(a) for a in sys.argv[1:]) or (10, 100, 500)
REPEATS = 3


def resource_class(token: str) -> type:
    """aws:ecs/taskDefinition:TaskDefinition -> pulumi_aws.ecs.TaskDefinition"""
    module = token.split(":")[1].split("/")[0]
    return getattr(getattr(aws, module), token.rsplit(":", 1)[-1])


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def bare_program(
    resources: list[tuple[str, str, dict]], components: Sequence[tuple[str, str]] = ()
):
    """The same typed resources with the same inputs, registered flat: the SDK's own cost."""

    def program() -> None:
        for token, name in components:
            pulumi.ComponentResource(token, name)
        for token, name, inputs in resources:
            resource_class(token)(name, **{snake(k): v for k, v in inputs.items()})

    return program


def best_of(run) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(REPEATS):
        gc.collect()  # start each run from the same heap: the previous run's garbage is large
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
        count = len(result.custom())
    return min(times), count


def main() -> None:
    capture(stack_with_sites(3))  # warm imports
    print(f"{'sites':>6} {'resources':>10} {'plan s':>8} {'floor s':>8} {'ratio':>6}")
    ratios = {}
    for sites in SIZES:
        stack = stack_with_sites(sites)
        plan_time, resources = best_of(lambda stack=stack: capture(stack))
        captured = capture(stack)
        replay = [
            (r.type, r.name, r.inputs)
            for r in captured.custom()
            if not r.type.startswith("pulumi:providers:")
        ]
        components = [
            (r.type, r.name)
            for r in captured.resources
            if not r.custom and r.type != "pulumi:pulumi:Stack"
        ]
        floor_time, _ = best_of(
            lambda stack=stack, replay=replay, components=components: capture(
                stack, program=bare_program(replay, components)
            )
        )
        ratios[sites] = plan_time / floor_time
        print(
            f"{sites:>6} {resources:>10} {plan_time:>8.2f} {floor_time:>8.2f} {ratios[sites]:>6.2f}"
        )
    largest = max(ratios)
    print(
        f"plan_scale: {largest} sites ratio {ratios[largest]:.2f} to the SDK floor "
        f"(median over sizes {statistics.median(ratios.values()):.2f}; goal <= 1.2)"
    )


if __name__ == "__main__":
    main()
