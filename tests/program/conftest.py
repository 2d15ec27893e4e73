"""Fixtures that run the real program under the SDK's mocks (preview=False) and capture it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hybridctl.capture import Capture, CapturedResource, capture
from hybridctl.policy_pack import hybrid_policies  # noqa: F401 (puts the pack on the path)
from hybridctl.stackfile import STACKS_DIR, StackFile, load

from hybrid_policies.iam import Context, Permissions, statements_of  # isort: skip

PROD = STACKS_DIR / "Pulumi.prod.yaml"
DEV = STACKS_DIR / "Pulumi.dev.yaml"
DB_PASSWORD = "pl41n-Passw0rd-never-printed"


@pytest.fixture(scope="session")
def prod() -> Capture:
    return capture(load(PROD))


@pytest.fixture(scope="session")
def dev() -> Capture:
    return capture(load(DEV))


def stack_with(edit: Callable[[dict[str, Any]], None], *, secret: bool = False) -> StackFile:
    """The prod stack file, edited in memory."""
    base = load(PROD)
    config = copy.deepcopy(base.config)
    edit(config)
    keys = base.secret_keys | ({"hybrid-airflow:sites"} if secret else set())
    return StackFile(name="test", path=Path("inline"), config=config, secret_keys=keys)


@pytest.fixture(scope="session")
def prod_with_database() -> Capture:
    """prod with a database (and its password, a secret) configured for munich."""

    def add_database(config: dict[str, Any]) -> None:
        munich = config["hybrid-airflow:sites"][1]
        munich["database"] = {
            "host": "db.munich.example",
            "port": 3306,
            "name": "clinic",
            "username": "etl",
            "password": DB_PASSWORD,
        }

    return capture(stack_with(add_database, secret=True))


def of_type(capture: Capture, token: str, site: str | None = "*") -> list[CapturedResource]:
    return [r for r in capture.resources if r.type == token and (site == "*" or r.site == site)]


def one(capture: Capture, token: str, site: str | None) -> CapturedResource:
    found = of_type(capture, token, site)
    assert len(found) == 1, f"expected one {token} for {site}, got {[r.name for r in found]}"
    return found[0]


def policy_of(resource: CapturedResource) -> dict[str, Any]:
    return json.loads(resource.inputs["policy"])


def arn_of(capture: Capture, token: str, site: str | None) -> str:
    return str(one(capture, token, site).outputs["arn"])


def allows(
    document: dict[str, Any], action: str, resource: str, context: Context | None = None
) -> bool:
    """Whether `document` lets its principal do `action` on `resource`, as the policy pack's
    IAM evaluator decides it (hybrid_policies/iam.py: AWS's matching, NotAction/NotResource,
    explicit Deny, conditions). A condition key the request does not supply is assumed to hold,
    so "not allowed" is sound; pass the key (`kms:resourcealiases`, ...) to decide it."""
    permissions = Permissions(statements_of(document, "test"))
    return bool(permissions.grants(action, resource, context or {}))
