"""The queryable lake, stack side: a Glue database per site, the environment's Athena workgroup,
and task roles that reach their own catalog only (issue 13)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from components import arns
from components import policy_documents as docs
from components.naming import Naming
from hybridctl.capture import Capture, CapturedResource, capture
from hybridctl.diff import describe_change
from hybridctl.mocks import ACCOUNT_ID
from hybridctl.plan import render_text
from tests.program.conftest import allows, of_type, one, policy_of, stack_with

GLUE_DATABASE = "aws:glue/catalogDatabase:CatalogDatabase"
WORKGROUP = "aws:athena/workgroup:Workgroup"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
# Everything the Glue API can do to a database, its tables and partitions: the role's own
# actions and the ones it must never have (dropping or creating databases, deleting tables).
GLUE_ACTIONS = (
    *docs.GLUE_TABLE_ACTIONS,
    "glue:GetDatabase",
    "glue:GetDatabases",
    "glue:GetTables",
    "glue:CreateDatabase",
    "glue:UpdateDatabase",
    "glue:DeleteDatabase",
    "glue:DeleteTable",
    "glue:BatchDeleteTable",
    "glue:UpdatePartition",
)

DNS_LABEL = st.from_regex(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", fullmatch=True)
ENVIRONMENT = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
REGION = st.sampled_from(["eu-central-1", "eu-west-1", "us-east-1"])


def task_policy(naming: Naming, site: str, region: str, account: str = ACCOUNT_ID) -> dict:
    return docs.task_role_policy(
        site=site,
        secret_arn=arns.secret_pattern(region=region, account_id=account, name=naming.secret(site)),
        secret_key=None,
        lake_bucket_arn="arn:aws:s3:::lake",
        lake_key=arns.KeyByAlias(region, account, naming.key_alias("lake")),
        log_group_arn=f"arn:aws:logs:{region}:{account}:log-group:{naming.log_group(site)}",
        glue=docs.GlueDatabaseArns.of(
            region=region, account_id=account, database=naming.glue_database(site)
        ),
    )


# --- pure: the policy documents ------------------------------------------------------------


@st.composite
def site_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two site names, often one a prefix of the other (`hq`, `hq-2`): the case a missing `/`
    in an ARN pattern gets wrong."""
    site = draw(DNS_LABEL)
    other = draw(
        st.one_of(
            DNS_LABEL,
            st.builds(lambda tail: f"{site}-{tail}"[:32].rstrip("-"), DNS_LABEL),
            st.builds(lambda tail: f"{site}{tail}"[:32].rstrip("-"), DNS_LABEL),
        )
    )
    return site, other


@settings(max_examples=150, deadline=None)
@given(ENVIRONMENT, site_pairs(), REGION)
@example("prod", ("hq", "hq-2"), "eu-central-1")
@example("prod", ("hq-2", "hq"), "eu-central-1")
def test_a_task_role_reaches_its_own_glue_database_and_no_other(
    environment: str, sites: tuple[str, str], region: str
) -> None:
    site, other = sites
    _own_and_no_other(environment, site, other, region)


def _own_and_no_other(environment: str, site: str, other: str, region: str) -> None:
    naming = Naming(environment)
    if naming.glue_database(site) == naming.glue_database(other):
        assert site == other  # the name is one-to-one
        return
    policy = task_policy(naming, site, region)
    own = docs.GlueDatabaseArns.of(
        region=region, account_id=ACCOUNT_ID, database=naming.glue_database(site)
    )
    theirs = docs.GlueDatabaseArns.of(
        region=region, account_id=ACCOUNT_ID, database=naming.glue_database(other)
    )
    # Glue authorises a table call on the catalog, the database and the table: all three.
    for action in docs.GLUE_TABLE_ACTIONS:
        for arn in (
            own.catalog,
            own.database,
            f"{own.database.replace(':database/', ':table/')}/t",
        ):
            assert allows(policy, action, arn), (action, arn)
    assert allows(policy, "glue:GetDatabase", own.database)
    for action in GLUE_ACTIONS:
        for arn in (theirs.database, f"{theirs.database.replace(':database/', ':table/')}/t"):
            assert not allows(policy, action, arn), (action, arn)
    for action in set(GLUE_ACTIONS) - set(docs.GLUE_TABLE_ACTIONS) - {"glue:GetDatabase"}:
        for arn in (own.catalog, own.database, own.tables):
            assert not allows(policy, action, arn), (action, arn)


def test_glue_statements_are_exactly_the_contracts() -> None:
    policy = task_policy(Naming("prod"), "plant-a", "eu-central-1")
    glue = [s for s in policy["Statement"] if any(a.startswith("glue:") for a in s["Action"])]
    head = f"arn:aws:glue:eu-central-1:{ACCOUNT_ID}"
    assert glue == [
        {
            "Sid": "ReadOwnGlueDatabase",
            "Effect": "Allow",
            "Action": ["glue:GetDatabase"],
            "Resource": [f"{head}:catalog", f"{head}:database/hybrid_prod_plant_a"],
        },
        {
            "Sid": "WriteOwnGlueTables",
            "Effect": "Allow",
            "Action": sorted(docs.GLUE_TABLE_ACTIONS),
            "Resource": [
                f"{head}:catalog",
                f"{head}:database/hybrid_prod_plant_a",
                f"{head}:table/hybrid_prod_plant_a/*",
            ],
        },
    ]


@pytest.mark.parametrize(
    ("environment", "site", "database"),
    [("prod", "hq", "hybrid_prod_hq"), ("dev", "plant-ohio", "hybrid_dev_plant_ohio")],
)
def test_glue_database_names(environment: str, site: str, database: str) -> None:
    assert Naming(environment).glue_database(site) == database


def test_the_lake_bucket_policy_keeps_tls_and_lets_only_athena_write_results() -> None:
    policy = docs.lake_bucket_policy("arn:aws:s3:::lake")
    tls, athena = policy["Statement"]
    assert tls == docs.tls_only_bucket_policy("arn:aws:s3:::lake")["Statement"][0]
    assert athena == {
        "Sid": "AthenaResultsOnlyFromAthena",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::lake/_athena/*",
        # ForAllValues over an absent key is true: a direct request (no CalledVia) is denied.
        "Condition": {"ForAllValues:StringNotEquals": {"aws:CalledVia": ["athena.amazonaws.com"]}},
    }


# --- the program, captured -------------------------------------------------------------


def lake_bucket(captured: Capture) -> CapturedResource:
    return next(r for r in of_type(captured, "aws:s3/bucket:Bucket") if r.name == "lake-bucket")


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_each_site_has_one_glue_database_in_the_lakes_region(
    stack: str, request: pytest.FixtureRequest
) -> None:
    captured: Capture = request.getfixturevalue(stack)
    manifest = json.loads(captured.manifest_text() or "{}")
    bucket = lake_bucket(captured).outputs["bucket"]
    by_urn = captured.by_urn()
    for site in manifest["sites"]:
        name = site["name"]
        database = one(captured, GLUE_DATABASE, name)
        assert database.inputs["name"] == f"hybrid_{stack}_{name.replace('-', '_')}"
        assert database.inputs["name"] == site["glueDatabase"]
        assert database.inputs["region"] == captured.region  # the lake's, whatever the site's
        assert database.inputs["locationUri"] == f"s3://{bucket}/{name}/"
        assert database.inputs["tags"] == {
            "environment": stack,
            "managed-by": "hybrid-airflow",
            "site": name,
            "residency": site["residency"],
        }
        parent = by_urn[database.parent]
        assert (parent.type, parent.name) == ("hybrid:platform:Site", name)
    assert len(of_type(captured, GLUE_DATABASE)) == len(manifest["sites"])


def test_no_site_role_reaches_another_sites_catalog(prod: Capture) -> None:
    """The captured RolePolicy of each site against the captured database of every other."""
    databases = {
        r.site: docs.GlueDatabaseArns.of(
            region=r.inputs["region"], account_id=ACCOUNT_ID, database=r.inputs["name"]
        )
        for r in of_type(prod, GLUE_DATABASE)
    }
    assert set(databases) == {"hq", "munich", "dublin"}
    for site in databases:
        (policy,) = [r for r in of_type(prod, ROLE_POLICY, site) if r.name.endswith("-task")]
        document = policy_of(policy)
        for other, theirs in databases.items():
            table = f"{theirs.tables.removesuffix('*')}orders"
            reachable = [
                (action, arn)
                for action in GLUE_ACTIONS
                for arn in (theirs.database, table)
                if allows(document, action, arn)
            ]
            if other == site:
                assert ("glue:CreateTable", table) in reachable
                assert ("glue:BatchCreatePartition", table) in reachable
                assert ("glue:GetDatabase", theirs.database) in reachable
            else:
                assert reachable == [], (site, other)
    # No other role of the stack touches the catalog at all.
    for policy in of_type(prod, ROLE_POLICY):
        if not policy.name.endswith("-task"):
            assert not any(
                a.startswith("glue:") for s in policy_of(policy)["Statement"] for a in s["Action"]
            ), policy.name


def test_no_role_of_the_stack_can_write_athena_results(prod: Capture) -> None:
    results = f"{lake_bucket(prod).outputs['arn']}/_athena/x.csv"
    for policy in of_type(prod, ROLE_POLICY):
        document = policy_of(policy)
        for action in ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
            assert not allows(document, action, results), (policy.name, action)


def test_the_lake_bucket_policy_denies_direct_writes_to_results(prod: Capture) -> None:
    lake = lake_bucket(prod)
    policies = {
        r.name: json.loads(r.inputs["policy"])
        for r in of_type(prod, "aws:s3/bucketPolicy:BucketPolicy")
    }
    assert policies["lake-tls-only"] == docs.lake_bucket_policy(lake.outputs["arn"])
    dags = next(r for r in of_type(prod, "aws:s3/bucket:Bucket") if r.name == "orchestrator-dags")
    assert policies["orchestrator-dags-tls-only"] == docs.tls_only_bucket_policy(
        dags.outputs["arn"]
    )


def test_one_athena_workgroup_queries_the_lake_with_enforced_encrypted_results(
    prod: Capture,
) -> None:
    workgroup = one(prod, WORKGROUP, None)
    lake_key = next(r for r in of_type(prod, "aws:kms/key:Key") if r.name == "lake-key")
    assert workgroup.inputs["name"] == "hybrid-prod"
    assert workgroup.inputs["configuration"] == {
        "enforceWorkgroupConfiguration": True,
        "publishCloudwatchMetricsEnabled": True,
        "bytesScannedCutoffPerQuery": 10_000_000_000,
        "resultConfiguration": {
            "outputLocation": f"s3://{lake_bucket(prod).outputs['bucket']}/_athena/",
            "expectedBucketOwner": ACCOUNT_ID,
            "encryptionConfiguration": {
                "encryptionOption": "SSE_KMS",
                "kmsKeyArn": lake_key.outputs["arn"],
            },
        },
    }
    assert workgroup.inputs["tags"]["environment"] == "prod"
    assert prod.by_urn()[workgroup.parent].type == "hybrid:platform:DataLake"
    # Results go to the bucket only once it refuses plain HTTP and stray writes to them.
    tls = next(
        r for r in of_type(prod, "aws:s3/bucketPolicy:BucketPolicy") if r.name == "lake-tls-only"
    )
    assert tls.urn in workgroup.dependencies


def test_cutoff_and_results_expiry_follow_the_stack_config() -> None:
    def edit(config: dict[str, Any]) -> None:
        config["hybrid-airflow:platform"]["athena"] = {"bytesScannedCutoffGb": 25}
        config["hybrid-airflow:platform"]["dataLake"]["retentionDays"] = 3

    captured = capture(stack_with(edit))
    configuration = one(captured, WORKGROUP, None).inputs["configuration"]
    assert configuration["bytesScannedCutoffPerQuery"] == 25_000_000_000
    rules = one(
        captured, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", None
    ).inputs["rules"]
    (results,) = [r for r in rules if r["filter"]["prefix"] == "_athena/"]
    # Results copy site data: never kept longer than the data itself.
    assert results == {
        "id": "expire-athena-results",
        "status": "Enabled",
        "filter": {"prefix": "_athena/"},
        "expiration": {"days": 3},
    }


def test_dev_results_expire_after_a_week(dev: Capture) -> None:
    rules = one(
        dev, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", None
    ).inputs["rules"]
    assert {r["id"]: r.get("expiration", {}).get("days") for r in rules} == {
        "abort-incomplete-uploads": None,
        "retain-hq": 30,
        "retain-plant-ohio": 30,
        "expire-athena-results": 7,
    }


def test_the_etl_is_told_its_catalog_and_the_typed_format(dev: Capture) -> None:
    for site in ("hq", "plant-ohio"):
        task = one(dev, "aws:ecs/taskDefinition:TaskDefinition", site)
        (container,) = json.loads(task.inputs["containerDefinitions"])
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert env["ETL_GLUE_DATABASE"] == one(dev, GLUE_DATABASE, site).inputs["name"]
        assert env["ETL_GLUE_REGION"] == "us-east-1"
        assert env["ETL_FORMAT"] == "parquet"
        # The task definition waits for its database (the name comes from the resource).
        assert one(dev, GLUE_DATABASE, site).urn in task.dependencies


# --- what hybridctl shows --------------------------------------------------------------------


def test_plan_shows_where_each_catalog_lives_and_the_workgroups_limits(prod: Capture) -> None:
    text = render_text(prod)
    bucket = lake_bucket(prod).outputs["bucket"]
    assert (
        f"hybrid-prod-dublin-catalog  [hybrid_prod_dublin in eu-central-1, s3://{bucket}/dublin/]"
        in text
    )
    assert (
        f"lake-athena  [hybrid-prod: results s3://{bucket}/_athena/ SSE_KMS, 10 GB per query]"
        in (text)
    )


def test_a_diff_names_what_changed_inside_a_container() -> None:
    def container(**environment: str) -> str:
        env = [{"name": k, "value": v} for k, v in environment.items()]
        return json.dumps([{"name": "etl", "image": "i", "environment": env}])

    old = container(ETL_SITE="hq", ETL_FORMAT="csv.gz")
    new = container(ETL_SITE="hq", ETL_FORMAT="parquet", ETL_GLUE_DATABASE="hybrid_prod_hq")
    assert describe_change(old, new) == "~etl (environment +ETL_GLUE_DATABASE ~ETL_FORMAT)"
