"""`hybridctl check`: the policy pack's verdicts on a stack, offline. The README's main command.

Runs the program under mocks exactly as `plan` does, then every policy of `policies/` on what
it registered, with the evidence a reviewer signs: what each policy examined, where regulated
data is stored and who can read it, the residency map, the run's metadata and, with
`--baseline`, what changed since an earlier report. Exit 0: no mandatory violation;
1: mandatory violations; 2: bad config or usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, TextIO

from hybridctl import history, run_metadata, state_export
from hybridctl.capture import Capture
from hybridctl.cli import (
    UsageError,
    add_stack_arguments,
    load_stack,
    progress,
    run_program,
    write_output,
)
from hybridctl.engine import PolicyInputs
from hybridctl.evaluate import evaluate
from hybridctl.findings import CheckResult
from hybridctl.policy_pack import hybrid_policies as hp
from hybridctl.reports import RENDERERS, json_report
from hybridctl.residency_map import build_map
from hybridctl.stack_locations import StackLocator, relative_path
from hybridctl.stackfile import StackFile
from hybridctl.storage_view import pack_evaluation, storage_view
from hybridctl.stored_state import NOT_GIVEN, StoredState, StoredStateError, describe


def policy_config_file(path_arg: str | None, stack: str) -> Path:
    """The policy config file: the one given, else the one the pack finds under
    `pulumi preview --stack <stack>`."""
    try:
        return (
            Path(path_arg) if path_arg else hp.resolve_config({**os.environ, "PULUMI_STACK": stack})
        )
    except hp.ConfigNotFound as error:
        raise UsageError([f"{error} (or pass --policy-config FILE)"]) from None


def load_policy_config(path_arg: str | None, stack: str) -> Any:
    """The policy config, named by its repository-relative path (policies quote it in messages,
    and reports are read on other machines)."""
    path = policy_config_file(path_arg, stack)
    try:
        config = hp.load_config(path, hp.POLICY_NAMES)
    except hp.PolicyConfigError as error:
        raise UsageError(
            [f"{error.source}: invalid policy config", *(f"  {p}" for p in error.problems)]
        ) from None
    return dataclasses.replace(config, source=relative_path(path))


def load_baseline(path: str) -> history.BaselineReport:
    try:
        return history.load(Path(path))
    except history.BaselineError as error:
        raise UsageError([str(error)]) from None


def check_stack(
    stack: StackFile,
    config: hp.PolicyConfig,
    captured: Capture,
    *,
    now: dt.datetime,
    baseline: history.BaselineReport | None = None,
    stored_state: str | None = None,
    policy_file: Path | None = None,
) -> CheckResult:
    """The verdicts and everything the reports show about them."""
    inputs = PolicyInputs(captured)
    stack_file = relative_path(stack.path)
    result = evaluate(
        captured, config, stack_file=stack_file, now=now, evidence=True, inputs=inputs
    )
    result.policy_config = config.source
    result.locator = StackLocator.of(stack, stack_file)
    progress("deriving where regulated data is stored, who can read it, and the residency map")
    view = pack_evaluation(inputs, config, now)
    result.storage = storage_view(view)
    result.residency_map = build_map(view, result.violating_sites)
    result.metadata = run_metadata.collect(
        stack_file=stack.path,
        policy_config=policy_file,
        generated_at=result.generated_at,
        mode=captured.mode,
        stored_state=Path(stored_state) if stored_state else None,
    )
    if baseline is not None:
        result.comparison = history.compare(baseline, json_report.document(result))
        counts = result.comparison.counts
        progress(
            f"since {baseline.path}: {counts['new']} new, {counts['resolved']} resolved, "
            f"{counts['changed']} changed finding(s), {counts['waiverChanges']} waiver change(s)"
        )
    return result


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    stack = load_stack(args)
    config = load_policy_config(args.policy_config, stack.name)
    policy_file = policy_config_file(args.policy_config, stack.name)
    baseline = load_baseline(args.baseline) if args.baseline else None
    try:
        stored = StoredState.load(args.stored_state) if args.stored_state else None
    except StoredStateError as error:
        raise UsageError([str(error)]) from None
    captured = run_program(stack, stored=stored)
    for line in describe(captured.stored_values) if stored else [NOT_GIVEN]:
        progress(line)
    progress(f"evaluating {len(hp.POLICIES)} policies ({config.source})")
    now = dt.datetime.now(dt.UTC)
    result = check_stack(
        stack,
        config,
        captured,
        now=now,
        baseline=baseline,
        stored_state=args.stored_state,
        policy_file=policy_file,
    )
    write_output(RENDERERS[args.format](result), args.output, out)
    if args.state_out:
        document = state_export.export(captured, now.isoformat(timespec="seconds"))
        Path(args.state_out).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        progress(f"wrote the captured state to {args.state_out}")
    summary = result.summary()
    progress(
        f"{summary['mandatoryViolations']} mandatory, {summary['advisoryViolations']} advisory "
        f"violation(s), {summary['waived']} waived"
    )
    return result.exit_code


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "check", help="evaluate the policy pack on a stack, offline (exit 1 on violations)"
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "--policy-config",
        metavar="FILE",
        help=f"policy config (default: ${hp.CONFIG_ENV} or policies/config.<stack>.json)",
    )
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
    parser.add_argument("--output", metavar="FILE", help="write the report here")
    parser.add_argument(
        "--baseline",
        metavar="REPORT.json",
        help="compare with an earlier `--format json` report: new, resolved and changed "
        "findings, waiver changes",
    )
    parser.add_argument(
        "--state-out",
        metavar="FILE",
        help="write the captured resources in `pulumi stack export` format",
    )
    parser.add_argument(
        "--stored-state",
        metavar="FILE",
        help="the stack's `pulumi stack export`: judge the values the engine keeps from it "
        "(ignore_changes)",
    )
    parser.set_defaults(handler=cmd_check)
