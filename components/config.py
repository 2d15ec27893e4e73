"""Typed stack config: the contract between `stacks/Pulumi.<stack>.yaml`, the program and hybridctl.

Validation is about well-formedness and what deploy and run time will accept: the same SQL check
as the ETL (`etl_sqlcheck.py`, a byte-identical copy), the same cron rules as Airflow
(`schedules.py`), names that stay distinct after every normalisation the platform applies
(`collisions.py`), no plaintext password, and no key the program would silently ignore.
Compliance (regions a stack may use, where a regulated site may run) is the policy pack's job,
so that a mistake there is reported as a policy violation with its remediation.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from components.collisions import find_collisions
from components.etl_sqlcheck import QueryRejected, check_query
from components.naming import PROJECT as PROJECT
from components.schedules import ScheduleError, check_schedule

DNS_LABEL = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", re.ASCII)
EXTRACT_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}", re.ASCII)
REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]", re.ASCII)
# A MySQL column name as written unquoted (what an interval filter names).
COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,63}", re.ASCII)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# An S3 general purpose bucket name as this platform accepts it: S3's rules (3-63 characters,
# lowercase letters, digits and '-', starting and ending with a letter or digit) without dots,
# which break TLS for virtual-hosted addresses (what MWAA, Athena and the ETL use).
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", re.ASCII)
# Prefixes and suffixes S3 reserves for its own kinds of buckets and access points.
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3")
MWAA_BUCKET_PREFIX = "airflow-"

# The named parameters an incremental extract's query carries: the DAG fills them from the
# run's data interval and the ETL binds them through the driver. Full extracts get none.
INTERVAL_PARAMETERS = ("interval_start", "interval_end")
# Schedules whose runs have no fixed data interval to extract (docs/contracts.md section 1).
NO_INTERVAL = {
    "@once": "makes one run with no data interval",
    "@continuous": "starts a run as soon as the last ends, each from the previous end to now, "
    "so a retry or backfill cannot recreate an interval",
}
# Athena refuses a per-query cutoff below 10 MB; 1 PB is far beyond any sane single query.
GB = 1_000_000_000
MAX_CUTOFF_GB = 1_000_000

# The keys of the project's namespace the program reads; anything else is a mistake.
SITES_KEY = f"{PROJECT}:sites"
PLATFORM_KEY = f"{PROJECT}:platform"
RETIRED_KEY = f"{PROJECT}:retiredSites"
PROJECT_KEYS = (PLATFORM_KEY, SITES_KEY, RETIRED_KEY)
# Namespaces of config the stack may carry: ours, the AWS provider's, Pulumi's own.
NAMESPACES = (PROJECT, "aws", "pulumi")

LaunchType = Literal["EXTERNAL", "FARGATE", "EC2"]
# AWS refuses SSM activations longer than 30 days. The policy pack's activation-expiry rule
# enforces the environment's limit (maxActivationDays) with a compliance message, so config
# only bounds the value to something sane.
MAX_ACTIVATION_DAYS = 365

# Keys that moved elsewhere: a hint instead of "unknown key".
MOVED = {
    ("platform", "allowedRegions"): (
        "is no longer read from the stack config: the allowed regions are compliance's, in "
        "policies/config.<stack>.json (allowedRegions), the one place hybridctl check and "
        "the policy pack read them; delete this key"
    ),
}


def fullmatch(pattern: re.Pattern[str], text: str) -> bool:
    """The whole text, with no trailing newline (`$` would accept one)."""
    return pattern.fullmatch(text) is not None


def suggest(word: str, candidates: Sequence[str]) -> str:
    """`; did you mean 'x'?` for a near miss, else the list of what is allowed."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f" (known: {', '.join(candidates)})"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _CamelModel(_Model):
    """Fields are snake_case in Python and camelCase in the stack file, as Pulumi config is."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, alias_generator=_camel
    )


class Database(_CamelModel):
    host: str = Field(min_length=1)
    port: int = 3306
    name: str = Field(min_length=1)
    username: str = Field(min_length=1)
    # A Pulumi secret (`pulumi config set --secret --path ...`); without it the site's secret
    # stays empty and says how to set it. A plaintext value is refused in parse_config.
    password: str | None = Field(default=None, min_length=1, repr=False)
    tls: bool = False

    @field_validator("port")
    @classmethod
    def _port_in_range(cls, port: int) -> int:
        if not 1 <= port <= 65535:
            raise ValueError("must be between 1 and 65535")
        return port


class Incremental(_CamelModel):
    """An extract bound to its run's data interval: `WHERE <column> >= :interval_start AND
    <column> < :interval_end`, and Airflow catches up interval by interval from `start`."""

    column: str
    start: datetime.date

    @field_validator("column")
    @classmethod
    def _column_name(cls, column: str) -> str:
        if not fullmatch(COLUMN, column):
            raise ValueError(
                "must be a column name: 1-64 letters, digits, _ and $, not starting with a digit"
            )
        return column

    @field_validator("start", mode="before")
    @classmethod
    def _utc_date(cls, start: Any) -> Any:
        """A date as written, YYYY-MM-DD (no time: intervals start on the schedule's ticks)."""
        if isinstance(start, datetime.datetime) or not isinstance(start, str | datetime.date):
            raise ValueError("must be a date written YYYY-MM-DD (the first data interval, UTC)")
        if isinstance(start, str):
            if not fullmatch(ISO_DATE, start):
                raise ValueError(
                    f"{start!r} is not a date written YYYY-MM-DD (the first data interval, UTC)"
                )
            try:
                return datetime.date.fromisoformat(start)
            except ValueError:
                raise ValueError(f"{start!r} is not a calendar date") from None
        return start


class Extract(_CamelModel):
    name: str
    query: str
    schedule: str | None = "@daily"
    # Absent: a full extract (the default), which re-reads what its query selects every run.
    incremental: Incremental | None = None

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, name: str) -> str:
        if not fullmatch(EXTRACT_NAME, name):
            raise ValueError("must be 1-63 lowercase letters, digits and _, starting with a letter")
        return name

    @field_validator("query")
    @classmethod
    def _one_select(cls, query: str) -> str:
        """The ETL's own check (components/etl_sqlcheck.py is a copy of etl/sqlcheck.py)."""
        try:
            check_query(query)
            body = query.strip().rstrip(";").strip()
            check_query(body)  # what the manifest hands the ETL
        except QueryRejected as error:
            reason = str(error).removeprefix("query rejected: ")
            raise ValueError(f"the ETL would refuse it: {reason}") from None
        return body

    @field_validator("schedule")
    @classmethod
    def _schedule_as_airflow_reads_it(cls, schedule: str | None) -> str | None:
        if schedule is None:
            return None
        try:
            return check_schedule(schedule)
        except ScheduleError as error:
            raise ValueError(str(error)) from None


class Activation(_CamelModel):
    registration_limit: int = 1
    expires_in_days: int = 30

    @field_validator("registration_limit")
    @classmethod
    def _positive_limit(cls, limit: int) -> int:
        if not 1 <= limit <= 1000:
            raise ValueError("must be between 1 and 1000")
        return limit

    @field_validator("expires_in_days")
    @classmethod
    def _aws_expiry_limit(cls, days: int) -> int:
        if not 1 <= days <= MAX_ACTIVATION_DAYS:
            raise ValueError(f"must be between 1 and {MAX_ACTIVATION_DAYS}")
        return days


def _dns_label(name: str) -> str:
    if not fullmatch(DNS_LABEL, name):
        raise ValueError(
            "must be DNS-safe: 2-32 lowercase letters, digits and '-', starting with a letter"
        )
    return name


class Site(_CamelModel):
    name: str
    kind: Literal["onprem", "cloud"]
    residency: Literal["standard", "regulated"]
    region: str
    database: Database | None = None
    extracts: list[Extract] = Field(min_length=1)
    launch_type: LaunchType | None = None
    activation: Activation = Activation()

    @field_validator("name")
    @classmethod
    def _dns_safe(cls, name: str) -> str:
        return _dns_label(name)

    @field_validator("region")
    @classmethod
    def _region_shape(cls, region: str) -> str:
        if not fullmatch(REGION, region):
            raise ValueError(f"{region!r} is not an AWS region name (like eu-central-1)")
        return region

    @field_validator("extracts")
    @classmethod
    def _unique_extracts(cls, extracts: list[Extract]) -> list[Extract]:
        names = [e.name for e in extracts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"extract names must be unique; repeated: {', '.join(dupes)}")
        return extracts

    @property
    def effective_launch_type(self) -> LaunchType:
        """On-prem and regulated sites run on their own (ECS Anywhere) hosts unless overridden."""
        if self.launch_type:
            return self.launch_type
        return "EXTERNAL" if self.kind == "onprem" or self.residency == "regulated" else "FARGATE"

    @property
    def has_own_cluster(self) -> bool:
        """Regulated sites never share a cluster: IAM can only scope RunTask by `ecs:cluster`."""
        return self.residency == "regulated"

    @property
    def registers_hosts(self) -> bool:
        return self.effective_launch_type == "EXTERNAL"


class Network(_CamelModel):
    cidr: str = "10.40.0.0/16"

    @field_validator("cidr")
    @classmethod
    def _private_cidr(cls, cidr: str) -> str:
        try:
            net = ipaddress.IPv4Network(cidr)
        except ValueError:
            raise ValueError(f"'{cidr}' is not an IPv4 CIDR block") from None
        if not 16 <= net.prefixlen <= 24:
            raise ValueError("must be a /16 to /24 block (four subnets are carved from it)")
        if not net.is_private:
            raise ValueError("must be a private (RFC 1918) range")
        return str(net)


def _bucket_name(name: str) -> str:
    """S3's naming rules, checked before `pulumi up` tries (and fails) to create the bucket."""
    if not fullmatch(BUCKET_NAME, name):
        raise ValueError(
            "must be an S3 bucket name: 3-63 lowercase letters, digits and '-', starting and "
            "ending with a letter or digit (no dots: they break TLS for virtual-hosted access)"
        )
    if name.startswith(RESERVED_BUCKET_PREFIXES) or name.endswith(RESERVED_BUCKET_SUFFIXES):
        raise ValueError(
            "uses a prefix or suffix S3 reserves "
            f"({', '.join(RESERVED_BUCKET_PREFIXES + RESERVED_BUCKET_SUFFIXES)})"
        )
    return name


class DataLake(_CamelModel):
    retention_days: int = 365
    # The lake bucket's name. Default `hybrid-<env>-lake-<account>-<region>`; a stack deployed
    # before names were explicit sets its existing (generated) name here, because a bucket
    # cannot be renamed: a new name replaces the bucket.
    bucket_name: str | None = None

    @field_validator("bucket_name")
    @classmethod
    def _s3_name(cls, name: str | None) -> str | None:
        return None if name is None else _bucket_name(name)

    @field_validator("retention_days")
    @classmethod
    def _positive(cls, days: int) -> int:
        if days < 1:
            raise ValueError("must be at least 1")
        return days


class Orchestrator(_CamelModel):
    airflow_version: str = "3.3.1"
    environment_class: Literal[
        "mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"
    ] = "mw1.small"
    webserver_access_mode: Literal["PRIVATE_ONLY", "PUBLIC_ONLY"] = "PRIVATE_ONLY"
    min_workers: int = 1
    max_workers: int = 2
    # New sites' DAGs run on their schedule without someone unpausing them in the Airflow UI.
    dags_paused_on_creation: bool = False
    # The DAG bucket's name. Default `airflow-hybrid-<env>-dags-<account>-<region>`; an existing
    # stack keeps its bucket by setting its current name here (see dataLake.bucketName).
    dag_bucket_name: str | None = None

    @field_validator("dag_bucket_name")
    @classmethod
    def _mwaa_source_bucket(cls, name: str | None) -> str | None:
        if name is None:
            return None
        if not name.startswith(MWAA_BUCKET_PREFIX):
            raise ValueError(
                f"must start with '{MWAA_BUCKET_PREFIX}': MWAA accepts no other source bucket"
            )
        return _bucket_name(name)

    @field_validator("airflow_version")
    @classmethod
    def _airflow_3(cls, version: str) -> str:
        match = re.fullmatch(r"([0-9]+)\.([0-9]+)\.([0-9]+)", version)
        if not match or int(match.group(1)) < 3:
            raise ValueError("must be an MWAA Airflow 3 version such as 3.3.1 (the DAGs use 3.x)")
        return version

    @model_validator(mode="after")
    def _worker_range(self) -> Orchestrator:
        if not 1 <= self.min_workers <= self.max_workers <= 25:
            raise ValueError("minWorkers and maxWorkers must satisfy 1 <= min <= max <= 25")
        return self


class Athena(_CamelModel):
    """The environment's Athena workgroup: what one query may scan before Athena cancels it."""

    bytes_scanned_cutoff_gb: int = 10

    @field_validator("bytes_scanned_cutoff_gb")
    @classmethod
    def _cutoff(cls, gigabytes: int) -> int:
        if not 1 <= gigabytes <= MAX_CUTOFF_GB:
            raise ValueError(f"must be between 1 and {MAX_CUTOFF_GB} (gigabytes, 10^9 bytes)")
        return gigabytes

    @property
    def bytes_scanned_cutoff(self) -> int:
        return self.bytes_scanned_cutoff_gb * GB


class Platform(_CamelModel):
    environment: str
    network: Network = Network()
    data_lake: DataLake = DataLake()
    orchestrator: Orchestrator = Orchestrator()
    athena: Athena = Athena()
    log_retention_days: int = 90
    etl_image_tag: str = "0.1.0"

    @field_validator("environment")
    @classmethod
    def _dns_safe(cls, name: str) -> str:
        if not fullmatch(DNS_LABEL, name) or len(name) > 12:
            raise ValueError(
                "must be 2-12 lowercase letters, digits and '-', starting with a letter"
            )
        return name

    @field_validator("log_retention_days")
    @classmethod
    def _cloudwatch_retention(cls, days: int) -> int:
        allowed = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)
        if days not in allowed:
            raise ValueError(f"must be one of CloudWatch's retention periods: {allowed}")
        return days

    @model_validator(mode="after")
    def _two_buckets(self) -> Platform:
        name = self.data_lake.bucket_name
        if name is not None and name == self.orchestrator.dag_bucket_name:
            raise ValueError(
                f"dataLake.bucketName and orchestrator.dagBucketName are both {name!r}: the lake "
                "and the DAG bucket are two buckets"
            )
        return self


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs: `aws:region`, `hybrid-airflow:platform`, `...:sites`,
    and `...:retiredSites` (removed sites whose lake prefix keeps its retention rule)."""

    region: str
    platform: Platform
    sites: tuple[Site, ...]
    retired_sites: tuple[str, ...] = ()

    def site(self, name: str) -> Site:
        return next(site for site in self.sites if site.name == name)


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One mistake: where (config key and path inside its value, for line numbers) and what."""

    where: str  # as printed: "sites[1] (munich).database.port"
    message: str
    key: str = ""  # full config key, e.g. "hybrid-airflow:sites"
    path: Path = ()

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(Exception):
    """Every problem of a stack config at once, each naming the site and field."""

    def __init__(self, problems: Sequence[Problem | str]) -> None:
        self.issues = [p if isinstance(p, Problem) else Problem("config", p) for p in problems]
        self.problems = [str(p) for p in self.issues]
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {p}" for p in self.problems))


@dataclass(frozen=True)
class Secrets:
    """Which config values are Pulumi secrets.

    The stack file knows each `secure:` value's exact path; the program only knows which whole
    config keys Pulumi marks secret (a key is secret if any value inside it is).
    """

    keys: frozenset[str] = frozenset()
    paths: frozenset[tuple[str | int, ...]] | None = None  # (key, *path) of each secure value

    def is_secret(self, key: str, path: Path) -> bool:
        if self.paths is not None:
            return (key, *path) in self.paths
        return key in self.keys


def secret_command(key: str, path: Path, stack: str | None) -> str:
    """The exact command that stores one value encrypted (it prompts for the value)."""
    command = f"pulumi config set --secret --path '{key}{render_path(path)}'"
    return command + (f" --stack {stack}" if stack else "")


def render_path(path: Path) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)


def parse_stack_config(
    values: Mapping[str, Any], *, secrets: Secrets = Secrets(), stack: str | None = None
) -> StackConfig:
    """Validate a whole stack's config (full keys -> values), as Pulumi hands it to the program.

    Refuses keys the program would silently ignore: a typo in our namespace
    (`hybrid-airflow:sties`) or in the project prefix (`hybrid-airfow:sites`) would otherwise
    read as "no sites", and the next `pulumi up` would destroy every site.
    """
    problems: list[Problem] = []
    for key in values:
        if not isinstance(key, str):
            problems.append(Problem(f"config key {key!r}", "must be a string 'namespace:name'"))
            continue
        namespace, _, name = key.partition(":")
        if namespace == PROJECT:
            if key not in PROJECT_KEYS:
                problems.append(
                    Problem(key, "is not a key the program reads" + suggest(key, PROJECT_KEYS), key)
                )
        elif namespace not in NAMESPACES:
            near = difflib.get_close_matches(namespace, [PROJECT], n=1, cutoff=0.6)
            if near:
                hint = f"; did you mean '{PROJECT}:{name}'?"
            else:
                hint = f" (the program reads {', '.join(n + ':' for n in NAMESPACES)} keys only)"
            problems.append(Problem(key, f"unknown namespace '{namespace}'{hint}", key))
    if SITES_KEY not in values:
        problems.append(
            Problem(
                SITES_KEY,
                "is required: a stack without sites says so explicitly with `sites: []` "
                "(and `pulumi up` then removes every site)",
                SITES_KEY,
            )
        )
    try:
        config = parse_config(
            values.get("aws:region"),
            values.get(PLATFORM_KEY),
            values.get(SITES_KEY, []),
            values.get(RETIRED_KEY),
            secrets=secrets,
            stack=stack,
        )
    except ConfigError as error:
        raise ConfigError([*problems, *error.issues]) from None
    if problems:
        raise ConfigError(problems)
    return config


def parse_config(
    region: Any,
    platform: Any,
    sites: Any,
    retired_sites: Any = None,
    *,
    secrets: Secrets = Secrets(),
    stack: str | None = None,
) -> StackConfig:
    """Validate raw config values (as Pulumi or a stack file holds them) into a StackConfig.

    Each site is validated on its own so that one broken site does not hide the next one's
    problems; cross-site checks run on whatever validated.
    """
    problems: list[Problem] = []
    if not isinstance(region, str) or not fullmatch(REGION, region):
        problems.append(
            Problem(
                "aws:region",
                "is required and must be an AWS region name (like eu-central-1)",
                "aws:region",
            )
        )
    if platform is None:
        problems.append(Problem(PLATFORM_KEY, "is required", PLATFORM_KEY))
        platform_model = None
    else:
        platform_model = _validate(Platform, platform, "platform", PLATFORM_KEY, problems)
    if not isinstance(sites, list):
        problems.append(Problem(SITES_KEY, "must be a list of sites (`[]` for none)", SITES_KEY))
        sites = []
    retired = _retired(retired_sites, problems)

    site_models: list[tuple[int, Site]] = []
    first_index: dict[str, int] = {}
    for index, raw_site in enumerate(sites):
        name = raw_site.get("name") if isinstance(raw_site, dict) else None
        where = site_label(index, name)
        if isinstance(name, str):
            if name in first_index:
                problems.append(
                    Problem(
                        f"{where}.name",
                        f"duplicates sites[{first_index[name]}]",
                        SITES_KEY,
                        (index, "name"),
                    )
                )
            first_index.setdefault(name, index)
            if name in retired:
                problems.append(
                    Problem(
                        f"{where}.name",
                        f"is in {RETIRED_KEY}: the removed site's lake data under {name}/ (and "
                        "a regulated site's kept secret, key and log group) still carry this "
                        "name; choose another",
                        SITES_KEY,
                        (index, "name"),
                    )
                )
        site = _validate(Site, raw_site, where, SITES_KEY, problems, prefix=(index,))
        problems.extend(_extract_rules(index, raw_site))
        if site is None:
            continue
        site_models.append((index, site))
        problems.extend(_site_rules(index, site, region, secrets, stack))
    if platform_model is not None:
        for collision in find_collisions(platform_model.environment, region, site_models):
            problems.append(Problem(collision.where, collision.message, SITES_KEY, collision.path))
    if problems or platform_model is None:
        raise ConfigError(problems)
    return StackConfig(
        region=region,
        platform=platform_model,
        sites=tuple(site for _, site in site_models),
        retired_sites=tuple(retired),
    )


def site_label(index: int, name: Any) -> str:
    return f"sites[{index}]" + (f" ({name})" if isinstance(name, str) else "")


def _site_rules(
    index: int, site: Site, region: Any, secrets: Secrets, stack: str | None
) -> list[Problem]:
    """Rules that need more than one field of a site, or to know what is a secret."""
    where = site_label(index, site.name)
    problems = []
    if (
        site.effective_launch_type == "FARGATE"
        and isinstance(region, str)
        and site.region != region
    ):
        problems.append(
            Problem(
                f"{where}.region",
                f"FARGATE tasks run in the platform network in {region}; "
                "use that region or launchType EXTERNAL",
                SITES_KEY,
                (index, "region"),
            )
        )
    database = site.database
    path: Path = (index, "database", "password")
    if database and database.password is not None and not secrets.is_secret(SITES_KEY, path):
        problems.append(
            Problem(
                f"{where}.database.password",
                "is plain text in the stack config; delete it and store it encrypted with: "
                f"{secret_command(SITES_KEY, path, stack)}  (it prompts for the value)",
                SITES_KEY,
                path,
            )
        )
    return problems


def _extract_rules(index: int, raw_site: Any) -> list[Problem]:
    """Named parameters and schedule of each extract, as its DAG and the ETL will use them.

    Run on every extract whose query and schedule are valid, whatever else is wrong in its site
    or its `incremental` block, so one mistake does not hide the next.
    """
    if not isinstance(raw_site, dict) or not isinstance(raw_site.get("extracts"), list):
        return []
    where = site_label(index, raw_site.get("name"))
    problems: list[Problem] = []
    for number, raw in enumerate(raw_site["extracts"]):
        if not isinstance(raw, dict):
            continue
        try:
            extract = Extract.model_validate({k: v for k, v in raw.items() if k != "incremental"})
        except ValidationError:
            continue  # reported by the site's own validation
        incremental = raw.get("incremental")
        column = incremental.get("column") if isinstance(incremental, dict) else None
        problems.extend(
            _interval_rules(
                f"{where}.extracts[{number}]",
                (index, "extracts", number),
                extract,
                incremental=incremental is not None,
                column=column if isinstance(column, str) and fullmatch(COLUMN, column) else None,
            )
        )
    return problems


def _interval_rules(
    where: str, path: Path, extract: Extract, *, incremental: bool, column: str | None
) -> list[Problem]:
    checked = check_query(extract.query)  # the query validated already
    parameters = checked.parameters
    problems = []

    def problem(field: tuple[str, ...], message: str) -> None:
        problems.append(Problem(f"{where}.{'.'.join(field)}", message, SITES_KEY, (*path, *field)))

    if not incremental:
        if parameters:
            problem(
                ("query",),
                f"uses named parameters ({', '.join(f':{p}' for p in parameters)}) but only an "
                "incremental extract gets any: add `incremental: {column, start}` to bind "
                ":interval_start and :interval_end to the run's data interval, or remove them",
            )
        return problems
    missing = [p for p in INTERVAL_PARAMETERS if p not in parameters]
    unknown = [p for p in parameters if p not in INTERVAL_PARAMETERS]
    if missing:
        problem(
            ("query",),
            "an incremental extract filters on its data interval with both :interval_start and "
            f":interval_end; missing {', '.join(f':{p}' for p in missing)}",
        )
    if unknown:
        problem(
            ("query",),
            f"named parameters {', '.join(f':{p}' for p in unknown)} have no value: an "
            "incremental extract gets only :interval_start and :interval_end",
        )
    if extract.schedule is None:
        problem(
            ("schedule",),
            "an incremental extract needs a schedule: its runs are the data intervals the "
            "schedule makes (null would only run when triggered, with no interval)",
        )
    elif extract.schedule in NO_INTERVAL:
        problem(
            ("schedule",),
            f"'{extract.schedule}' {NO_INTERVAL[extract.schedule]}: an incremental extract "
            "needs a cron expression or a preset such as @daily",
        )
    if column is not None and not mentions(checked.sql, column):
        problem(
            ("incremental", "column"),
            f"'{column}' does not appear in the query: name the column the interval filters "
            "on (WHERE <column> >= :interval_start AND <column> < :interval_end)",
        )
    return problems


def mentions(sql: str, column: str) -> bool:
    """Whether `column` appears in the query as a name (any case, bare or `quoted`).

    Comments are already gone from `sql` (the shared check strips them); a name that appears
    only inside a string literal would still count, which the ETL's own check cannot tell.
    """
    name = re.escape(column)
    pattern = rf"(?<![A-Za-z0-9_$`]){name}(?![A-Za-z0-9_$`])|`{name}`"
    return re.search(pattern, sql, re.IGNORECASE) is not None


def _retired(raw: Any, problems: list[Problem]) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem("retiredSites", "must be a list of site names", RETIRED_KEY))
        return []
    names: list[str] = []
    for index, name in enumerate(raw):
        try:
            if not isinstance(name, str):
                raise ValueError("must be a site name")
            _dns_label(name)
        except ValueError as error:
            problems.append(Problem(f"retiredSites[{index}]", str(error), RETIRED_KEY, (index,)))
            continue
        if name in names:
            problems.append(
                Problem(f"retiredSites[{index}]", f"repeats '{name}'", RETIRED_KEY, (index,))
            )
            continue
        names.append(name)
    return names


_M = TypeVar("_M", bound=BaseModel)


def _validate(
    model: type[_M],
    raw: Any,
    where: str,
    key: str,
    problems: list[Problem],
    prefix: Path = (),
) -> _M | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_describe(exc, model, where, key, prefix))
        return None


_MESSAGES = {
    "missing": "is required",
    "too_short": "must not be empty",
    "model_type": "must be a mapping of fields",
    "dict_type": "must be a mapping of fields",
    "model_attributes_type": "must be a mapping of fields",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "invalid_key": "keys must be strings",
}


def _describe(
    exc: ValidationError, model: type[BaseModel], where: str, key: str, prefix: Path
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        kind = error["type"]
        message = _MESSAGES.get(kind) or str(error["msg"]).removeprefix("Value error, ")
        if kind == "literal_error":
            message = "must be " + message.removeprefix("Input should be ")
        elif kind == "extra_forbidden":
            message = _unknown_field(model, where, loc)
        problems.append(Problem(f"{where}{render_path(loc)}", message, key, (*prefix, *loc)))
    return problems


def _unknown_field(model: type[BaseModel], where: str, loc: Path) -> str:
    section = where.split(" ")[0].split("[")[0]  # "platform" or "sites"
    moved = MOVED.get((section, *loc))  # type: ignore[arg-type]
    if moved:
        return moved
    known = _fields_at(model, loc[:-1])
    name = str(loc[-1])
    return "is not a known field" + (suggest(name, known) if known else "")


def _fields_at(model: type[BaseModel], loc: Path) -> list[str]:
    """The stack-file names of the fields of the model found at `loc` (for did-you-mean)."""
    current: Any = model
    for step in loc:
        if isinstance(step, int):
            continue
        fields = current.model_fields
        match = next(
            (f for n, f in fields.items() if step in (n, f.alias)),
            None,
        )
        if match is None:
            return []
        current = _model_in(match.annotation)
        if current is None:
            return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside `X`, `X | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
