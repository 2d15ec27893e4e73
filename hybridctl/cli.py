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

from components.config import ConfigError
from components.naming import NETWORK_KEY
from hybridctl import plan
from hybridctl.capture import Capture, ProgramError, capture
from hybridctl.stackfile import StackFile, StackFileError, load, resolve

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
        stack.typed()
    except StackFileError as error:
        raise UsageError([str(error)]) from None
    except ConfigError as error:
        raise UsageError(
            [f"{stack.path}: invalid stack config", *(f"  {p}" for p in error.problems)]
        ) from None
    return stack


def run_program(stack: StackFile) -> Capture:
    progress(f"running the program for stack {stack.name} offline (mocked AWS, no credentials)")
    started = time.perf_counter()
    try:
        result = capture(stack)
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


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    result = run_program(load_stack(args))
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
    plan_parser.set_defaults(handler=cmd_plan)

    from hybridctl import check  # the compliance check: policies/ evaluated offline

    check.register(commands)
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
