"""Issue 13's policy cases: a regulated site's catalog follows the rules of its data, and its
stored data (lake prefix, Glue database and tables, log group, secret) is in a region compliance
allows for that site. Program-level cases are in test_hostile_programs.py (`hq-reads-munich-
catalog`, `glue-wildcard`, `catalog-copy-outside`, `table-outside`, `tagged-catalog-outside`),
the stack-file case in violating_stacks.py (`platform-in-eu-west-1`); these are compliance's
config and edits of what the real program registers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pytest

from hybridctl.capture import Capture, CapturedResource
from hybridctl.policy_pack import hybrid_policies as hp
from tests.policies.conftest import (
    UNKNOWN,
    blocking,
    check,
    edited,
    messages,
    prod_config,
    run_program,
    set_prop,
)
from tests.policies.test_hostile_programs import ACCOUNT, allow, document

STORED = "regulated-data-in-site-regions"


def narrowed(site: str, regions: list[str]) -> hp.PolicyConfig:
    """Compliance's prod config with one site's allowedRegions changed."""
    raw = json.loads(Path(prod_config().source).read_text(encoding="utf-8"))
    for entry in raw["sites"]:
        if entry["name"] == site:
            entry["allowedRegions"] = regions
    return hp.parse_config(raw, f"{site}-narrowed", hp.POLICY_NAMES)


def test_prod_stores_every_regulated_sites_data_where_compliance_allows(
    prod_capture: Capture,
) -> None:
    """dublin's extracts and catalog live in the eu-central-1 lake: prod's config allows it."""
    assert messages(check(prod_capture), STORED) == []


def test_dublin_limited_to_eu_west_1_finds_its_lake_and_catalog_in_eu_central_1(
    prod_capture: Capture,
) -> None:
    result = check(prod_capture, narrowed("dublin", ["eu-west-1"]))
    assert blocking(result) == {
        (STORED, "dublin"),  # the lake prefix, and where its ETL writes the catalog
        ("resources-in-allowed-regions", "dublin"),  # its Glue database, declared for dublin
    }
    found = {(f.policy, f.resource_name) for f in result.blocking}
    assert found == {
        (STORED, "lake-bucket"),
        (STORED, "hybrid-prod-dublin-etl"),
        ("resources-in-allowed-regions", "hybrid-prod-dublin-catalog"),
    }
    text = " ".join(messages(result, STORED))
    assert "lake prefix dublin/ of bucket hybrid-prod-lake-123456789012-eu-central-1" in text
    assert "writes its Glue catalog in eu-central-1 (ETL_GLUE_REGION)" in text


def _munich_container(change: Callable[[dict[str, Any]], None]) -> Callable[[Any], bool]:
    def edit(resource: CapturedResource) -> bool:
        if resource.name != "hybrid-prod-munich-etl":
            return False
        containers = json.loads(resource.raw_inputs["containerDefinitions"])
        change(containers[0])
        set_prop(resource, "containerDefinitions", json.dumps(containers))
        return True

    return edit


def _set_env(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(container: dict[str, Any]) -> None:
        container["environment"] = [
            *(v for v in container["environment"] if v["name"] != name),
            {"name": name, "value": value},
        ]

    return change


def _log_to(region: str) -> Callable[[dict[str, Any]], None]:
    def change(container: dict[str, Any]) -> None:
        container["logConfiguration"]["options"]["awslogs-region"] = region

    return change


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (_set_env("ETL_GLUE_REGION", "eu-west-1"), "writes its Glue catalog in eu-west-1"),
        (_log_to("eu-west-1"), "sends its logs to eu-west-1 (awslogs-region)"),
        (_set_env("ETL_REGION", "eu-west-1"), "reads its DB secret in eu-west-1"),
    ],
    ids=["glue-region", "logs-region", "secret-region"],
)
def test_munich_task_sending_its_data_to_another_eu_region(
    prod_capture: Capture, change: Callable[[dict[str, Any]], None], needle: str
) -> None:
    """eu-west-1 is allowed for the stack (and dublin), not for munich."""
    result = check(edited(prod_capture, _munich_container(change)))
    assert blocking(result) == {(STORED, "munich")}
    [message] = messages(result, STORED)
    assert needle in message
    assert "outside site munich's allowedRegions ['eu-central-1']" in message


def test_an_untagged_copy_of_a_regulated_task_is_judged_by_where_it_stores(
    prod_capture: Capture,
) -> None:
    """Membership by relationship reaches this rule too: a copy that names munich's secret and
    logs to eu-west-1 is munich's."""

    def copy(resource: CapturedResource) -> bool:
        if resource.name != "hybrid-prod-munich-etl":
            return False
        _munich_container(_log_to("eu-west-1"))(resource)
        set_prop(resource, "tags", {})
        resource.parent = ""
        return True

    result = check(edited(prod_capture, copy))
    assert (STORED, "munich") in blocking(result)
    assert any("sends its logs to eu-west-1" in m for m in messages(result, STORED))


def test_unknown_container_definitions_of_a_regulated_task_fail_closed() -> None:
    preview = run_program(mode="preview")

    def unknown(resource: CapturedResource) -> bool:
        if resource.name != "hybrid-prod-dublin-etl":
            return False
        set_prop(resource, "containerDefinitions", UNKNOWN)
        return True

    result = check(edited(preview, unknown))
    [message] = messages(result, STORED)
    assert message.startswith("cannot verify where task definition hybrid-prod-dublin-etl")
    assert {
        (f.policy, f.site, f.enforcement_level) for f in result.blocking if f.policy == STORED
    } == {(STORED, "dublin", "mandatory")}


def test_only_a_sites_own_task_role_reaches_its_catalog(prod_capture: Capture) -> None:
    """The real program: munich's and dublin's task roles reach their own Glue databases and
    tables; no finding (the grant on `table/<db>/*` and the database is the site's own)."""
    assert messages(check(prod_capture), "regulated-data-access-confined") == []
    # and a grant on munich's catalog to dublin's role is caught, naming munich
    result = check(run_program(dublin_reads_munich_partitions))
    assert blocking(result) == {("regulated-data-access-confined", "munich")}
    [message] = messages(result, "regulated-data-access-confined")
    assert message.startswith(
        "role hybrid-prod-dublin-task (site dublin) may glue:GetPartitions on regulated site "
        "munich's Glue database hybrid_prod_munich tables"
    )


def dublin_reads_munich_partitions(p: Any) -> None:
    aws.iam.RolePolicy(
        "dublin-reads-munich",
        role="hybrid-prod-dublin-task",
        policy=document(
            allow(
                "glue:GetPartitions",
                f"arn:aws:glue:eu-central-1:{ACCOUNT}:table/hybrid_prod_munich/patients",
            )
        ),
    )


@pytest.mark.parametrize(
    ("pattern", "witness"),
    [
        ("arn:aws:s3:::lake/munich/patients/*", "arn:aws:s3:::lake/munich/patients/"),
        ("arn:aws:s3:::lake/*", "arn:aws:s3:::lake/munich/"),
        ("arn:aws:s3:::*", "arn:aws:s3:::lake/munich/"),
        ("*", "arn:aws:s3:::lake/munich/"),
        ("arn:aws:s3:::lake/mun?ch/x*", "arn:aws:s3:::lake/munich/x"),
        ("arn:aws:s3:::lake/m*h/a", "arn:aws:s3:::lake/munich/h/a"),
        ("arn:aws:s3:::lake/hq/*", None),  # another prefix
        ("arn:aws:s3:::lake/munich", None),  # the "folder" name without its slash: nothing below
        ("arn:aws:s3:::lake/Munich/*", None),  # resources match case-sensitively
        ("arn:aws:s3:::lake/munich-archive/*", None),  # a site whose name starts like munich
    ],
)
def test_a_grant_reaches_a_prefix_if_it_names_anything_below_it(
    pattern: str, witness: str | None
) -> None:
    from hybrid_policies.iam import resource_matches, witness_under

    found = witness_under(pattern, "arn:aws:s3:::lake/munich/")
    assert found == witness
    if found is not None:
        assert found.startswith("arn:aws:s3:::lake/munich/")
        assert resource_matches(pattern, found)
