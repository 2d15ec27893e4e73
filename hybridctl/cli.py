"""hybridctl: the platform's offline tools. Runs the real program under Pulumi's mocks.

Exit codes: 0 ok, 1 policy violations (check), 2 invalid config or usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import TextIO

from components.config import ConfigError, StackConfig
from components.naming import NETWORK_KEY
from hybridctl import baseline, diff, diff_report, plan
from hybridctl.allowed_regions import region_warnings
from hybridctl.capture import Capture, ProgramError, capture
from hybridctl.stackfile import StackFile, StackFileError, load, resolve
from hybridctl.stored_state import StoredState

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or config: reported as `error: ...` lines and exit code 2."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def progress(message: str) -> None:
    print(f"hybridctl: {message}", file=sys.stderr, flush=True)


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="a stack of stacks/ (e.g. prod)")
    which.add_argument("--stack-file", help="path to a Pulumi.<stack>.yaml")


def load_stack(args: argparse.Namespace) -> StackFile:
    """Read and validate the stack file, or raise UsageError naming every problem."""
    try:
        stack = load(resolve(args.stack, args.stack_file))
    except StackFileError as error:
        raise UsageError([str(error)]) from None
    validate(stack)
    return stack


def validate(stack: StackFile) -> StackConfig:
    """The typed config, or UsageError listing each problem with its line in the file."""
    try:
        return stack.typed()
    except ConfigError as error:
        raise UsageError(config_problems(stack, error)) from None


def config_problems(stack: StackFile, error: ConfigError) -> list[str]:
    count = len(error.issues)
    lines = [f"{stack.path}: invalid stack config ({count} problem{'s' * (count != 1)})"]
    for problem in error.issues:
        line = stack.line_of(problem)
        lines.append(f"  line {line}: {problem}" if line else f"  {problem}")
    return lines


def run_program(stack: StackFile, stored: StoredState | None = None) -> Capture:
    progress(f"running the program for stack {stack.name} offline (mocked AWS, no credentials)")
    started = time.perf_counter()
    try:
        result = capture(stack, stored=stored)
    except ProgramError as error:
        raise UsageError([str(error)]) from None
    progress(f"captured {len(result.custom())} resources in {time.perf_counter() - started:.1f}s")
    return result


def write_output(text: str, path: str | None, out: TextIO) -> None:
    if path:
        Path(path).write_text(text, encoding="utf-8")
        progress(f"wrote {path}")
    else:
        out.write(text)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def plan_warnings(stack: StackFile, config: StackConfig) -> None:
    """What the plan can tell before the check does: regions compliance refuses, no sites."""
    for message in region_warnings(stack, config):
        warn(message)
    if not config.sites:
        warn(
            f"{stack.path}: hybrid-airflow:sites is empty: `pulumi up` removes every site "
            "this stack has deployed (regulated sites' key, secret and log group stay, protected)"
        )


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    stack = load_stack(args)
    plan_warnings(stack, validate(stack))
    if args.diff is not None:
        return cmd_diff(stack, args, out)
    result = run_program(stack)
    if args.manifest:
        manifest, network = result.manifest_text(), result.network_text()
        if manifest is None or network is None:
            raise UsageError(["the program produced no sites manifest and network file"])
        write_output(manifest, args.manifest, out)
        # The DAGs look for the network file beside the manifest, as in the DAG bucket.
        write_output(network, str(Path(args.manifest).with_name(NETWORK_KEY)), out)
    if args.format == "json":
        out.write(json.dumps(plan.plan_document(result), indent=2) + "\n")
    else:
        out.write(plan.render_text(result))
    return EXIT_OK


def base_snapshot(stack: StackFile, base: str) -> diff.Snapshot:
    """The resources to compare with: a state file's, or the program's on the file at a ref."""
    try:
        if baseline.is_state_file(base):
            return baseline.load_state(Path(base))
        at_ref = baseline.stack_at_ref(stack, base)
    except baseline.BaselineError as error:
        raise UsageError([str(error)]) from None
    if at_ref is None:
        progress(f"{stack.path.name} does not exist at {base}: everything is new")
        return diff.Snapshot(f"{base}:{stack.path.name} (absent)", {}, None)
    try:
        at_ref.typed()
    except ConfigError as error:
        raise UsageError(
            [f"the stack file at {base} is invalid:", *config_problems(at_ref, error)[1:]]
        ) from None
    return diff.from_capture(run_program(at_ref), str(at_ref.path))


def compute_diff(stack: StackFile, base: diff.Snapshot, head_label: str) -> diff.Diff:
    return diff.compare(stack.name, base, diff.from_capture(run_program(stack), head_label))


def cmd_diff(stack: StackFile, args: argparse.Namespace, out: TextIO) -> int:
    result = compute_diff(stack, base_snapshot(stack, args.diff), str(stack.path.name))
    if args.format == "json":
        out.write(json.dumps(diff_report.to_document(result), indent=2) + "\n")
    else:
        out.write(diff_report.render_text(result))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybridctl", description="Offline plan and compliance check of a hybrid-airflow stack."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    plan_parser = commands.add_parser(
        "plan", help="list the resources a stack would create, grouped by site"
    )
    add_stack_arguments(plan_parser)
    plan_parser.add_argument("--format", choices=("text", "json"), default="text")
    plan_parser.add_argument(
        "--manifest",
        metavar="FILE",
        help="write the sites manifest here (and sites-network.json beside it)",
    )
    plan_parser.add_argument(
        "--diff",
        nargs="?",
        const="HEAD",
        metavar="BASE",
        help="show only what changes against BASE: a git ref for the stack file (default HEAD) "
        "or a state file written by `check --state-out` or `pulumi stack export`",
    )
    plan_parser.set_defaults(handler=cmd_plan)

    from hybridctl import check, site_cmd  # compliance check; site add and remove

    check.register(commands)
    site_cmd.register(commands)
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_aws(\..*)?")
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args, out))
    except UsageError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
