"""`hybridctl site add` and `hybridctl site remove`: edit a stack's sites safely.

Both edit `stacks/Pulumi.<stack>.yaml` in place (comments and order kept), validate the result
with the same strict rules as `plan` before writing anything, print what the change does to
the deployed stack (`plan --diff` of the edit), and the steps only a person can take: the
database password, compliance's list of known sites, and for a removal the hosts to deregister
and the protected resources to release.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path
from typing import Any, TextIO

from components.config import (
    PROJECT,
    SITES_KEY,
    ConfigError,
    Site,
    StackConfig,
    secret_command,
)
from components.naming import Naming, site_child_urn
from components.protection import GLUE_DATABASE, LOG_GROUP, PROTECTED_TYPES, SECRET
from hybridctl import diff, diff_report, site_edit
from hybridctl.allowed_regions import policy_config_path, region_warnings
from hybridctl.cli import (
    EXIT_OK,
    UsageError,
    add_stack_arguments,
    compute_diff,
    config_problems,
    progress,
    run_program,
    validate,
    warn,
)
from hybridctl.stackfile import StackFile, StackFileError, parse, read_text, resolve

DATABASE = re.compile(r"(?P<user>[^@/]+)@(?P<host>[^:/@]+)(:(?P<port>[0-9]{1,5}))?/(?P<name>[^/]+)")


class _Edit:
    """The stack file before and after an edit; nothing is written until `commit`."""

    def __init__(self, args: argparse.Namespace) -> None:
        try:
            self.path = resolve(args.stack, args.stack_file)
            self.before_text = read_text(self.path)
            self.before = parse(self.before_text, self.path)
        except StackFileError as error:
            raise UsageError([str(error)]) from None
        self.before_config = validate(self.before)  # an invalid file is fixed first
        self.name = self.before.name

    def apply(self, text: str) -> tuple[StackFile, StackConfig]:
        """Validate the edited text as `plan` would; UsageError (file untouched) if invalid."""
        try:
            after = parse(text, self.path, self.name)
        except StackFileError as error:
            raise UsageError([f"the edit would make the stack file unreadable: {error}"]) from None
        return after, _validated(after)

    def commit(self, text: str) -> None:
        """Replace the file in one step: readers see the old or the new file, never half."""
        mode = self.path.stat().st_mode & 0o777
        fd, temporary = tempfile.mkstemp(prefix=".hybridctl-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.chmod(temporary, mode)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _validated(stack: StackFile) -> StackConfig:
    try:
        return stack.typed()
    except ConfigError as error:  # each problem with its line in the edited text
        raise UsageError(["the edit was not written:", *config_problems(stack, error)]) from None


def _parse_extract(text: str) -> site_edit.Extract:
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[2].strip():
        raise UsageError(
            [f"--extract {text!r}: give NAME:SCHEDULE:QUERY (an empty SCHEDULE means @daily)"]
        )
    name, schedule, query = parts
    return site_edit.Extract(name.strip(), schedule.strip() or None, query.strip())


def _parse_database(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    match = DATABASE.fullmatch(text)
    if match is None:
        raise UsageError([f"--database {text!r}: give USER@HOST[:PORT]/NAME"])
    if ":" in match["user"]:
        raise UsageError(
            [
                "--database: no password on the command line (it stays in shell history); "
                "give USER@HOST[:PORT]/NAME and set the password with the secret command printed"
            ]
        )
    database: dict[str, Any] = {"host": match["host"]}
    if match["port"]:
        database["port"] = int(match["port"])
    database.update(name=match["name"], username=match["user"])
    return database


def _diff(edit: _Edit, after: StackFile) -> diff.Diff:
    progress("comparing the stack before and after the edit (two offline runs of the program)")
    base = diff.from_capture(run_program(edit.before), f"{edit.path.name} before")
    return compute_diff(after, base, f"{edit.path.name} after")


def cmd_add(args: argparse.Namespace, out: TextIO) -> int:
    edit = _Edit(args)
    site = site_edit.NewSite(
        name=args.name,
        kind=args.kind,
        residency=args.residency,
        region=args.region,
        extracts=tuple(_parse_extract(e) for e in args.extract),
        launch_type=args.launch_type,
        database=_parse_database(args.database),
        registration_limit=args.registration_limit,
        expires_in_days=args.expires_in_days,
    )
    try:
        text, index = site_edit.add_site(edit.before_text, site)
    except site_edit.EditError as error:
        raise UsageError([f"{edit.path}: {error}"]) from None
    after, config = edit.apply(text)
    for message in region_warnings(after, config):
        warn(message)
    result = _diff(edit, after)
    if args.dry_run:
        progress(f"dry run: {edit.path} is unchanged")
    else:
        edit.commit(text)
        progress(f"added site {site.name} to {edit.path} as {SITES_KEY}[{index}]")
    out.write(diff_report.render_text(result))
    out.write("\n" + _add_next_steps(edit.name, config.sites[index], index) + "\n")
    return EXIT_OK


def _add_next_steps(stack: str, site: Site, index: int) -> str:
    steps = []
    if site.database is not None:
        steps.append(
            "Store the database password (it prompts; never in the file):\n"
            f"     {secret_command(SITES_KEY, (index, 'database', 'password'), stack)}"
        )
    else:
        steps.append(
            "No database given: add one later (hybridctl site add --database USER@HOST/NAME on a "
            "new site, or a `database:` block), or put the connection into the site's secret "
            "after `pulumi up` (the `sites` stack output says how)."
        )
    if site.residency == "regulated":
        steps.append(
            f"Compliance: ask them to add {site.name} (regulated, {site.region}) to the known "
            f"sites in policies/{policy_config_path(stack).name} (theirs to edit): the policy "
            "pack refuses a regulated site it does not know."
        )
    steps.append(
        f"Check and deploy: hybridctl check --stack {stack}, then "
        f"pulumi preview --policy-pack policies --stack {stack} and pulumi up."
    )
    if site.registers_hosts:
        steps.append(
            "Register the site's hosts after the update (README: Registering a site's host):\n"
            f"     pulumi stack output installCommands --show-secrets --stack {stack} "
            f"| jq -r '.\"{site.name}\"'"
        )
    return "Next steps:\n" + "\n".join(f"  {n}. {step}" for n, step in enumerate(steps, 1))


def cmd_remove(args: argparse.Namespace, out: TextIO) -> int:
    edit = _Edit(args)
    try:
        text, index = site_edit.remove_site(edit.before_text, args.name)
    except site_edit.EditError as error:
        raise UsageError([f"{edit.path}: {error}"]) from None
    site = edit.before_config.sites[index]
    after, _ = edit.apply(text)
    result = _diff(edit, after)
    if args.dry_run:
        progress(f"dry run: {edit.path} is unchanged")
    else:
        edit.commit(text)
        progress(
            f"removed site {site.name} from {edit.path} and added it to {PROJECT}:retiredSites"
        )
    out.write(diff_report.render_text(result))
    out.write("\n" + _stays(edit.before_config, site, result) + "\n")
    out.write("\n" + _remove_steps(edit.name, edit.before_config, site) + "\n")
    return EXIT_OK


def _stays(config: StackConfig, site: Site, result: diff.Diff) -> str:
    kept = [c.resource for g in result.groups for c in g.changes if c.action == "keep"]
    lines = [
        "What stays:",
        f"  - the lake's objects under {site.name}/: lifecycle rule retain-{site.name} expires "
        f"them after {config.platform.data_lake.retention_days} days",
    ]
    lines += [f"  - {r.type.rsplit(':', 1)[-1]} {r.name}: protected, kept in AWS" for r in kept]
    return "\n".join(lines)


def _remove_steps(stack: str, config: StackConfig, site: Site) -> str:
    naming = Naming(config.platform.environment)
    cluster = (
        naming.site(site.name)
        if site.has_own_cluster
        else naming.shared_cluster(site.region, config.region)
    )
    region = site.region
    steps = []
    if site.registers_hosts:
        steps.append(
            "Deregister the site's hosts first (ECS refuses to delete a cluster that has any):\n"
            f"     aws ecs list-container-instances --region {region} --cluster {cluster} "
            f"--filter 'attribute:site == {site.name}'\n"
            f"     aws ecs deregister-container-instance --region {region} --cluster {cluster} "
            "--force --container-instance <each ARN listed>\n"
            f"     aws ssm describe-activations --region {region} --filters "
            f"FilterKey=DefaultInstanceName,FilterValues={naming.site(site.name, 'hosts')}\n"
            f"     aws ssm describe-instance-information --region {region} --filters "
            "Key=ActivationIds,Values=<its ActivationId>\n"
            f"     aws ssm deregister-managed-instance --region {region} --instance-id <each mi-...>\n"
            "     and on each host: sudo systemctl disable --now ecs amazon-ssm-agent"
        )
    if site.residency == "regulated":
        urns = [
            site_child_urn(stack, token, naming.site(site.name, what))
            for token, what in sorted(
                {
                    "aws:kms/key:Key": "secrets",
                    SECRET: "db",
                    LOG_GROUP: "logs",
                    GLUE_DATABASE: "catalog",
                }.items()
            )
            if token in PROTECTED_TYPES
        ]
        steps.append(
            "Release the protected resources, or `pulumi up` stops before deleting anything"
            " (they then stay in AWS):\n"
            + "\n".join(f"     pulumi state unprotect --stack {stack} '{urn}'" for urn in urns)
        )
    steps.append(
        f"Review and deploy: hybridctl plan --stack {stack} --diff, then "
        f"pulumi preview --policy-pack policies --stack {stack} and pulumi up."
    )
    steps.append(
        f"Compliance: ask them to drop {site.name} from the known sites in "
        f"policies/config.{stack}.json after the update."
    )
    if site.residency == "regulated":
        steps.append(
            "After the audit period, delete what was kept, by hand: "
            f"aws logs delete-log-group --region {region} --log-group-name "
            f"{naming.log_group(site.name)}; aws secretsmanager delete-secret --region {region} "
            f"--secret-id {naming.secret(site.name)}; aws kms schedule-key-deletion --region "
            f"{region} --pending-window-in-days 30 --key-id <the key tagged site={site.name}>"
            f"; aws glue delete-database --region {config.region} --name "
            f"{naming.glue_database(site.name)}"
        )
    return "Steps, in this order:\n" + "\n".join(
        f"  {n}. {step}" for n, step in enumerate(steps, 1)
    )


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    return value


def register(commands: Any) -> None:
    site = commands.add_parser("site", help="add or remove a site of a stack (edits its file)")
    actions = site.add_subparsers(dest="site_command", required=True)

    add = actions.add_parser(
        "add",
        help="add a site to stacks/Pulumi.<stack>.yaml, validate it and show the diff",
        description="Example: hybridctl site add lyon --stack prod --kind onprem "
        "--residency regulated --region eu-west-1 "
        "--extract 'invoices:0 2 * * *:SELECT id, total FROM invoices'",
    )
    add.add_argument("name", help="the site's name (DNS-safe, unique)")
    add_stack_arguments(add)
    add.add_argument("--kind", required=True, choices=("onprem", "cloud"))
    add.add_argument("--residency", required=True, choices=("standard", "regulated"))
    add.add_argument("--region", required=True, help="where the site's resources live")
    add.add_argument(
        "--extract",
        action="append",
        required=True,
        metavar="NAME:SCHEDULE:QUERY",
        help="an extract (repeatable); SCHEDULE is cron or an Airflow preset, empty for @daily",
    )
    add.add_argument("--launch-type", choices=("EXTERNAL", "FARGATE", "EC2"))
    add.add_argument(
        "--database", metavar="USER@HOST[:PORT]/NAME", help="the site's DB (no password here)"
    )
    add.add_argument("--registration-limit", type=_whole_number, metavar="N")
    add.add_argument("--expires-in-days", type=_whole_number, metavar="DAYS")
    add.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    add.set_defaults(handler=cmd_add)

    remove = actions.add_parser(
        "remove",
        help="remove a site from stacks/Pulumi.<stack>.yaml and show what is destroyed",
    )
    remove.add_argument("name", help="the site to remove")
    add_stack_arguments(remove)
    remove.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    remove.set_defaults(handler=cmd_remove)
