"""Where each regulated site's data is stored and who can read it, from the captured IAM and
bucket policies, evaluated by the policy pack's own IAM evaluator."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from hybridctl.findings import CheckResult
from hybridctl.reports import html, markdown
from hybridctl.storage_view import DataLocation, SiteStorage
from tests.policies.conftest import run_program
from tests.reports.conftest import PROD_STACK, run_check

LAKE_KEY_ALIAS = "alias/hybrid-prod-lake"


def view_of(result: CheckResult, site: str) -> SiteStorage:
    return next(s for s in result.storage or [] if s.site == site)


def location(view: SiteStorage, kind: str) -> DataLocation:
    [found] = [loc for loc in view.locations if loc.kind == kind]
    return found


def lake_bucket(result: CheckResult) -> str:
    """The lake's generated name, as captured from the bucket resource."""
    return next(
        str(r.outputs["bucket"])
        for r in run_program().resources
        if r.type == "aws:s3/bucket:Bucket" and r.name == "lake-bucket"
    )


@pytest.mark.parametrize(
    ("site", "secret_region"), [("munich", "eu-central-1"), ("dublin", "eu-west-1")]
)
def test_prod_names_bucket_prefix_region_key_and_readers(
    prod_result: CheckResult, site: str, secret_region: str
) -> None:
    view = view_of(prod_result, site)
    assert view.residency == "regulated"
    extracts = location(view, "extracts")
    assert extracts.bucket is not None
    assert extracts.bucket.startswith("hybrid-prod-lake-")
    assert extracts.prefix == f"{site}/"
    assert extracts.uri == f"s3://{extracts.bucket}/{site}/"
    assert extracts.region == "eu-central-1"  # the lake's region, wherever the site is
    assert extracts.key is not None
    assert extracts.key.name == LAKE_KEY_ALIAS
    assert extracts.key.arn is not None
    assert extracts.key.arn.startswith("arn:aws:kms:eu-central-1:123456789012:key/")
    assert extracts.key.rotation is True
    assert set(extracts.key.shared_with) == {"hq", "munich", "dublin"} - {site}
    # No principal of the stack may read the extracts: the task role only writes them.
    assert extracts.readers == ()
    [writer] = extracts.writers
    assert writer.principal == f"role hybrid-prod-{site}-task"
    assert writer.actions == ("s3:PutObject",)
    assert any("WriteOwnLakePrefix" in s for s in writer.statements)
    assert any("DenyInsecureTransport" in line for line in extracts.resource_policy)

    credentials = location(view, "DB credentials")
    assert credentials.uri == f"secretsmanager:hybrid/prod/{site}/db"
    assert credentials.region == secret_region
    assert credentials.key is not None
    assert credentials.key.name == f"alias/hybrid-prod-{site}-secrets"
    assert credentials.key.shared_with == ()
    [reader] = credentials.readers
    assert reader.principal == f"role hybrid-prod-{site}-task"
    assert reader.decrypt is True


def test_dublins_extracts_are_stored_outside_its_regions(
    prod_result: CheckResult, dublin_west_only_result: CheckResult
) -> None:
    """The lake is in eu-central-1: prod's compliance config allows it for dublin's data, a
    config that allows dublin eu-west-1 only makes the view say so."""
    assert location(view_of(prod_result, "dublin"), "extracts").outside_allowed is False
    strict = dublin_west_only_result
    assert location(view_of(strict, "dublin"), "extracts").outside_allowed is True
    assert any("outside dublin's allowed regions" in n for n in view_of(strict, "dublin").notes)
    assert location(view_of(strict, "munich"), "extracts").outside_allowed is False
    assert {s.site for s in prod_result.storage or []} == {"munich", "dublin"}


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[str]] = {}
        self._site: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "article" and values.get("class") == "site-storage":
            self._site = values.get("data-site")
            self.sections[self._site or ""] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._site = None

    def handle_data(self, data: str) -> None:
        if self._site is not None:
            self.sections[self._site].append(data)


def test_the_prod_report_names_them(prod_result: CheckResult) -> None:
    parsed = Text()
    parsed.feed(html.render(prod_result))
    bucket = lake_bucket(prod_result)
    md = markdown.render(prod_result)
    for site in ("munich", "dublin"):
        shown = " ".join(parsed.sections[site])
        for needle in (
            f"s3://{bucket}/{site}/",
            "eu-central-1",
            LAKE_KEY_ALIAS,
            "no principal of this stack",
            f"role hybrid-prod-{site}-task",
            f"alias/hybrid-prod-{site}-secrets",
        ):
            assert needle in shown, (site, needle)
        assert f"`s3://{bucket}/{site}/`" in md
    assert "outside allowed regions" not in " ".join(parsed.sections["dublin"])
    assert "outside allowed regions" not in " ".join(parsed.sections["munich"])


# --- readers the pack's IAM evaluator finds ----------------------------------------------------

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def readers_everywhere(platform: Any) -> None:
    """Three ways to read the lake: an inline statement with the key, an AWS managed policy on a
    user (no key: S3 would refuse to decrypt), a bucket policy for another account (dublin's
    prefix only)."""
    analyst = aws.iam.Role("analyst", name="analyst", assume_role_policy=TRUST)
    documents = pulumi.Output.all(
        pulumi.Output.concat("arn:aws:s3:::", platform.lake.bucket_name), platform.lake.key_arn
    )
    aws.iam.RolePolicy(
        "analyst-lake",
        role=analyst.name,
        policy=documents.apply(
            lambda arns: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "s3:GetObject*", "Resource": f"{arns[0]}/*"},
                        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": arns[1]},
                    ],
                }
            )
        ),
    )
    auditor = aws.iam.User("auditor", name="auditor")
    aws.iam.UserPolicyAttachment(
        "auditor-s3",
        user=auditor.name,
        policy_arn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    )
    aws.s3.BucketPolicy(
        "partner-read",
        bucket=platform.lake.bucket_name,
        policy=pulumi.Output.concat("arn:aws:s3:::", platform.lake.bucket_name).apply(
            lambda arn: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "PartnerReadsDublin",
                            "Effect": "Allow",
                            "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                            "Action": "s3:GetObject",
                            "Resource": f"{arn}/dublin/*",
                        }
                    ],
                }
            )
        ),
    )


@pytest.fixture(scope="module")
def with_readers() -> CheckResult:
    return run_check(PROD_STACK, capture_=run_program(readers_everywhere))


@pytest.mark.parametrize("site", ["munich", "dublin"])
def test_every_principal_that_can_read_is_named(with_readers: CheckResult, site: str) -> None:
    extracts = location(view_of(with_readers, site), "extracts")
    readers = {a.principal: a for a in extracts.readers}
    assert set(readers) == {"role analyst", "user auditor"}
    assert readers["role analyst"].decrypt is True
    assert set(readers["role analyst"].actions) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert readers["user auditor"].decrypt is False  # no kms:Decrypt on the lake key
    assert any("AmazonS3ReadOnlyAccess" in s for s in readers["user auditor"].statements)
    # The policies flag the same readers: the view and the verdicts agree.
    confined = {
        f.resource_name
        for f in with_readers.findings
        if f.policy == "regulated-data-access-confined" and f.site == site
    }
    assert {"analyst", "auditor"} <= confined


def test_bucket_policy_grants_are_listed_for_the_prefix_they_cover(
    with_readers: CheckResult,
) -> None:
    dublin = location(view_of(with_readers, "dublin"), "extracts")
    munich = location(view_of(with_readers, "munich"), "extracts")
    assert any(
        "PartnerReadsDublin allows" in line and "999999999999" in line
        for line in dublin.resource_policy
    )
    assert not any("PartnerReadsDublin" in line for line in munich.resource_policy)


def test_at_a_first_preview_unknown_documents_are_named_not_guessed() -> None:
    """A document built from an ARN the provider computes (the analyst's, from the lake key's
    ARN) is unknown at a first preview: the view says whose access it cannot verify instead of
    listing no reader, and every format still renders. The platform's own documents are built
    from names, so its roles are verified."""
    result = run_check(PROD_STACK, capture_=run_program(readers_everywhere, mode="preview"))
    munich = view_of(result, "munich")
    assert "role analyst" in munich.unverifiable
    assert "role hybrid-prod-munich-task" not in munich.unverifiable
    assert "Cannot verify the access of: " in html.render(result)
    assert markdown.render(result)
