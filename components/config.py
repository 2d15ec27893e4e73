"""Typed stack config: the contract between `stacks/Pulumi.<stack>.yaml`, the program and hybridctl.

Validation is about well-formedness and deployability. Compliance (regions a stack may use, where a
regulated site may run) is the policy pack's job, so that a mistake there is reported as a policy
violation with its remediation, not as a config error.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT = "hybrid-airflow"

DNS_LABEL = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
EXTRACT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
# Airflow presets and five-field cron expressions.
SCHEDULE = re.compile(r"^(@(once|hourly|daily|weekly|monthly|quarterly|yearly)|(\S+\s+){4}\S+)$")
READ_ONLY_QUERY = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)

LaunchType = Literal["EXTERNAL", "FARGATE", "EC2"]
# AWS refuses SSM activations longer than 30 days. The policy pack's activation-expiry rule
# enforces the environment's limit (maxActivationDays) with a compliance message, so config
# only bounds the value to something sane.
MAX_ACTIVATION_DAYS = 365


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
    # A Pulumi secret in the stack file; hybridctl sees only an opaque placeholder.
    password: str = Field(min_length=1, repr=False)
    tls: bool = False

    @field_validator("port")
    @classmethod
    def _port_in_range(cls, port: int) -> int:
        if not 1 <= port <= 65535:
            raise ValueError("must be between 1 and 65535")
        return port


class Extract(_CamelModel):
    name: str
    query: str
    schedule: str | None = "@daily"

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, name: str) -> str:
        if not EXTRACT_NAME.match(name):
            raise ValueError("must be lowercase letters, digits and _, starting with a letter")
        return name

    @field_validator("query")
    @classmethod
    def _one_select(cls, query: str) -> str:
        body = query.strip().rstrip(";").strip()
        if not READ_ONLY_QUERY.match(body):
            raise ValueError("must be one read-only SELECT (or WITH ... SELECT) statement")
        if ";" in body:
            raise ValueError("must be a single statement (found ';' inside it)")
        return body

    @field_validator("schedule")
    @classmethod
    def _schedule_is_cron_or_preset(cls, schedule: str | None) -> str | None:
        if schedule is not None and not SCHEDULE.match(schedule.strip()):
            raise ValueError("must be a cron expression or an Airflow preset such as @daily")
        return schedule


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
        if not DNS_LABEL.match(name):
            raise ValueError(
                "must be DNS-safe: 2-32 lowercase letters, digits and '-', starting with a letter"
            )
        return name

    @field_validator("region")
    @classmethod
    def _region_shape(cls, region: str) -> str:
        if not REGION.match(region):
            raise ValueError(f"'{region}' is not an AWS region name (like eu-central-1)")
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


class DataLake(_CamelModel):
    retention_days: int = 365

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

    @field_validator("airflow_version")
    @classmethod
    def _airflow_3(cls, version: str) -> str:
        match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
        if not match or int(match.group(1)) < 3:
            raise ValueError("must be an MWAA Airflow 3 version such as 3.3.1 (the DAGs use 3.x)")
        return version

    @model_validator(mode="after")
    def _worker_range(self) -> Orchestrator:
        if not 1 <= self.min_workers <= self.max_workers <= 25:
            raise ValueError("minWorkers and maxWorkers must satisfy 1 <= min <= max <= 25")
        return self


class Platform(_CamelModel):
    environment: str
    allowed_regions: list[str] = Field(min_length=1)
    network: Network = Network()
    data_lake: DataLake = DataLake()
    orchestrator: Orchestrator = Orchestrator()
    log_retention_days: int = 90
    etl_image_tag: str = "0.1.0"

    @field_validator("environment")
    @classmethod
    def _dns_safe(cls, name: str) -> str:
        if not DNS_LABEL.match(name) or len(name) > 12:
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


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs: `aws:region`, `hybrid-airflow:platform`, `hybrid-airflow:sites`."""

    region: str
    platform: Platform
    sites: tuple[Site, ...]

    def site(self, name: str) -> Site:
        return next(site for site in self.sites if site.name == name)


class ConfigError(Exception):
    """Every problem of a stack config at once, each naming the site and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {p}" for p in problems))


def parse_config(region: Any, platform: Any, sites: Any) -> StackConfig:
    """Validate raw config values (as Pulumi or a stack file holds them) into a StackConfig.

    Each site is validated on its own so that one broken site does not hide the next one's
    problems; cross-site checks run on whatever validated.
    """
    problems: list[str] = []
    if not isinstance(region, str) or not REGION.match(region):
        problems.append(
            "aws:region: is required and must be an AWS region name (like eu-central-1)"
        )
    if platform is None:
        problems.append(f"{PROJECT}:platform: is required")
        platform_model = None
    else:
        platform_model = _validate(Platform, platform, "platform", problems)
    if sites is None:
        sites = []
    if not isinstance(sites, list):
        problems.append(f"{PROJECT}:sites: must be a list of sites")
        sites = []
    site_models: list[Site] = []
    first_index: dict[str, int] = {}
    for index, raw_site in enumerate(sites):
        name = raw_site.get("name") if isinstance(raw_site, dict) else None
        where = f"sites[{index}]" + (f" ({name})" if isinstance(name, str) else "")
        if isinstance(name, str):
            if name in first_index:
                problems.append(f"{where}.name: duplicates sites[{first_index[name]}]")
            first_index.setdefault(name, index)
        site = _validate(Site, raw_site, where, problems)
        if site is None:
            continue
        site_models.append(site)
        if (
            site.effective_launch_type == "FARGATE"
            and isinstance(region, str)
            and site.region != region
        ):
            problems.append(
                f"{where}.region: FARGATE tasks run in the platform network in {region}; "
                "use that region or launchType EXTERNAL"
            )
    if problems or platform_model is None:
        raise ConfigError(problems)
    return StackConfig(region=region, platform=platform_model, sites=tuple(site_models))


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], raw: Any, where: str, problems: list[str]) -> _M | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_describe(exc, where))
        return None


_MESSAGES = {
    "extra_forbidden": "is not a known field",
    "missing": "is required",
    "too_short": "must not be empty",
    "model_type": "must be a mapping of fields",
    "dict_type": "must be a mapping of fields",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


def _describe(exc: ValidationError, where: str) -> list[str]:
    problems = []
    for error in exc.errors():
        message = _MESSAGES.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "literal_error":
            message = "must be " + message.removeprefix("Input should be ")
        field = "".join(
            f"[{step}]" if isinstance(step, int) else f".{step}" for step in error["loc"]
        )
        problems.append(f"{where}{field}: {message}")
    return problems
