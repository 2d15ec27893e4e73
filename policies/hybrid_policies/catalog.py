"""Every policy of the pack: its rule, why it exists, how bad a violation is, how to fix it.

This table is the one place a policy is declared; `adapter.build_policies` turns it into
pulumi_policy objects, and hybridctl's reports print the same descriptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from hybrid_policies.context import RuleContext
from hybrid_policies.rules import residency, security, stack, storage
from hybrid_policies.views import ResourceView, StackResource, StackViolation

ResourceRule = Callable[[ResourceView, RuleContext], Iterable[str]]
StackRule = Callable[[Sequence[StackResource], RuleContext], Iterable[StackViolation]]

AWSVPC_CONTRADICTION = (
    " Contradicts AWS Control Tower CT.ECS.PR.4 and Security Hub ECS.17, which expect awsvpc "
    "networking or forbid host networking: ECS Anywhere supports only bridge, host or none, so "
    "residency wins; suppress those controls for the regulated sites' task definitions."
)
REPLICATION_CONTRADICTION = (
    " Contradicts Checkov CKV_AWS_144 (S3 cross-region replication): copying regulated data to "
    "another region breaks residency, so residency wins; skip that check for this stack."
)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    kind: Literal["resource", "stack"]
    rule: ResourceRule | StackRule
    description: str
    severity: Literal["low", "medium", "high", "critical"]
    remediation: str
    default_level: Literal["advisory", "mandatory", "disabled"]
    group: Literal["residency", "security"]


def _resource(name: str, rule: ResourceRule, **kw: str) -> PolicySpec:
    return PolicySpec(name=name, kind="resource", rule=rule, **kw)  # type: ignore[arg-type]


def _stack(name: str, rule: StackRule, **kw: str) -> PolicySpec:
    return PolicySpec(name=name, kind="stack", rule=rule, **kw)  # type: ignore[arg-type]


POLICIES: tuple[PolicySpec, ...] = (
    # --- residency -------------------------------------------------------------------------
    _resource(
        "regulated-tasks-external-only",
        residency.regulated_tasks_external_only,
        description='Task definitions tagged residency=regulated require exactly ["EXTERNAL"], '
        "so their data is processed only on the site's own ECS Anywhere hosts, never on Fargate "
        "or EC2 in the cloud." + AWSVPC_CONTRADICTION,
        severity="critical",
        remediation="Remove the site's launchType override (regulated sites default to "
        "EXTERNAL) or set launchType: EXTERNAL in stacks/Pulumi.<stack>.yaml.",
        default_level="mandatory",
        group="residency",
    ),
    _resource(
        "regulated-tasks-pinned-to-site",
        residency.regulated_tasks_pinned_to_site,
        description="Regulated task definitions carry a memberOf placement constraint on their "
        "own site's attribute (attribute:site == <site>); an EXTERNAL task without it could land "
        "on another site's host.",
        severity="critical",
        remediation="Keep the placement constraint the Site component adds; make sure the "
        'site\'s hosts set ECS_INSTANCE_ATTRIBUTES={"site":"<site>"}.',
        default_level="mandatory",
        group="residency",
    ),
    _stack(
        "regulated-sites-isolated",
        stack.regulated_sites_isolated,
        description="Each regulated site's tasks run on an ECS cluster of its own, and the "
        "orchestrator role may run them only there (Condition ArnEquals ecs:cluster). IAM has no "
        "launch-type condition for RunTask, so the cluster is what keeps a regulated task off "
        "shared capacity.",
        severity="critical",
        remediation="Do not edit the orchestrator policy by hand: components/orchestrator.py "
        "derives one RunTask statement per site from the site's own cluster.",
        default_level="mandatory",
        group="residency",
    ),
    _stack(
        "regulated-services-external-only",
        stack.regulated_services_external_only,
        description="ECS services and capacity provider strategies for regulated tasks (tagged "
        "regulated, on a regulated site's cluster or running its task definition) use launch "
        "type EXTERNAL only; a regulated site's cluster has no capacity providers.",
        severity="critical",
        remediation="Set launchType EXTERNAL on the service and remove capacityProviderStrategies "
        "and ClusterCapacityProviders from the regulated site's cluster.",
        default_level="mandatory",
        group="residency",
    ),
    _resource(
        "resources-in-allowed-regions",
        residency.resources_in_allowed_regions,
        description="Every regional resource (its provider's region or its own region argument) "
        "and every secret replica is in the policy config's allowedRegions."
        + REPLICATION_CONTRADICTION,
        severity="critical",
        remediation="Move the site (sites[].region) or the platform (aws:region) into an "
        "allowed region, or have compliance extend allowedRegions in policies/config.<stack>.json.",
        default_level="mandatory",
        group="residency",
    ),
    _resource(
        "regulated-secrets-cmk",
        residency.regulated_secrets_cmk,
        description="Secrets of regulated sites are encrypted with a customer-managed KMS key, "
        "so key policy and CloudTrail show exactly who can read the site's DB credentials.",
        severity="high",
        remediation="Keep the per-site key the Site component creates for regulated sites "
        "(kmsKeyId on the secret).",
        default_level="mandatory",
        group="residency",
    ),
    _resource(
        "no-plaintext-credentials",
        residency.no_plaintext_credentials,
        description="No container definition (or MWAA option) carries password-, token- or "
        "secret-like values in plain text; DB credentials come only from Secrets Manager.",
        severity="critical",
        remediation="Put the value in the site's secret and pass its ARN (ETL_SECRET_ID) or use "
        "the container's `secrets` field.",
        default_level="mandatory",
        group="residency",
    ),
    # --- security ----------------------------------------------------------------------------
    _stack(
        "lake-encrypted-kms",
        storage.lake_encrypted_kms,
        description="Every bucket (the data lake and the DAG bucket) is encrypted with SSE-KMS "
        "under a customer-managed key.",
        severity="high",
        remediation="Create buckets with components/buckets.py:guard_bucket.",
        default_level="mandatory",
        group="security",
    ),
    _stack(
        "lake-public-access-blocked",
        storage.lake_public_access_blocked,
        description="Every bucket has a public access block with all four settings on.",
        severity="critical",
        remediation="Create buckets with components/buckets.py:guard_bucket.",
        default_level="mandatory",
        group="security",
    ),
    _stack(
        "lake-tls-only",
        storage.lake_tls_only,
        description="Every bucket policy denies requests without TLS (aws:SecureTransport false) "
        "on the bucket and its objects.",
        severity="high",
        remediation="Create buckets with components/buckets.py:guard_bucket.",
        default_level="mandatory",
        group="security",
    ),
    _stack(
        "lake-versioned",
        storage.lake_versioned,
        description="Every bucket is versioned, so an extract or a DAG can be recovered.",
        severity="medium",
        remediation="Create buckets with components/buckets.py:guard_bucket.",
        default_level="mandatory",
        group="security",
    ),
    _resource(
        "iam-no-wildcards",
        security.iam_no_wildcards,
        description="No IAM policy of the stack (task, execution, agent and MWAA roles) allows "
        "`*` or `service:*` actions, NotAction or NotResource, or a write action on Resource "
        "`*` (except actions with no resource-level permissions under a condition); "
        "iam:PassRole names each role.",
        severity="high",
        remediation="Scope the statement to the site's own ARNs (components/policy_documents.py).",
        default_level="mandatory",
        group="security",
    ),
    _resource(
        "activation-expiry",
        security.activation_expiry,
        description="SSM activations for ECS Anywhere expire within maxActivationDays (AWS allows "
        "at most 30) and state a registration limit, so a leaked activation code is short-lived "
        "and can register only the expected hosts.",
        severity="high",
        remediation="Set sites[].activation.expiresInDays <= maxActivationDays; rotate with "
        "`pulumi up --target <activation urn> --replace <activation urn>`.",
        default_level="mandatory",
        group="security",
    ),
    _resource(
        "ecr-scan-on-push",
        security.ecr_scan_on_push,
        description="The ETL image repository scans every pushed image for known vulnerabilities.",
        severity="medium",
        remediation="imageScanningConfiguration.scanOnPush = true.",
        default_level="advisory",
        group="security",
    ),
    _resource(
        "ecr-immutable-tags",
        security.ecr_immutable_tags,
        description="Image tags are immutable, so a task definition always runs the image that "
        "was reviewed.",
        severity="medium",
        remediation="imageTagMutability = IMMUTABLE.",
        default_level="advisory",
        group="security",
    ),
    _resource(
        "log-retention",
        security.log_retention,
        description="Log groups have a retention period, so ETL logs (which name sites and row "
        "counts) do not pile up forever.",
        severity="low",
        remediation="Set platform.logRetentionDays in the stack config.",
        default_level="advisory",
        group="security",
    ),
    _resource(
        "mwaa-private-webserver",
        security.mwaa_private_webserver,
        description="The Airflow UI is reachable only from the VPC (webserverAccessMode "
        "PRIVATE_ONLY). Advisory by default; the prod policy config makes it mandatory.",
        severity="high",
        remediation="Set platform.orchestrator.webserverAccessMode: PRIVATE_ONLY.",
        default_level="advisory",
        group="security",
    ),
    # --- whole stack -------------------------------------------------------------------------
    _stack(
        "regulated-sites-complete",
        stack.regulated_sites_complete,
        description="Every regulated site has an ECS Anywhere activation, a cluster of its own, "
        "an EXTERNAL task definition pinned to its hosts and a DB secret under a "
        "customer-managed key.",
        severity="critical",
        remediation="Declare the site with residency: regulated and no launchType override; the "
        "Site component creates all four.",
        default_level="mandatory",
        group="residency",
    ),
    _stack(
        "manifest-routes-regulated-external",
        stack.manifest_routes_regulated_external,
        description="The sites manifest the DAGs read sends regulated sites only to EXTERNAL "
        "capacity, pinned to the site, on the site's own cluster, with no awsvpc configuration.",
        severity="critical",
        remediation="Never edit sites-manifest.json by hand; components/manifest.py writes it "
        "from the deployed resources.",
        default_level="mandatory",
        group="residency",
    ),
)

POLICY_NAMES: tuple[str, ...] = tuple(p.name for p in POLICIES)
BY_NAME: dict[str, PolicySpec] = {p.name: p for p in POLICIES}
