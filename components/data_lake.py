"""DataLake: the KMS-encrypted bucket every site's extracts land in, one prefix per site, and the
environment's Athena workgroup that queries it, writing its results under `_athena/`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi_aws import s3

from components.buckets import guard_bucket
from components.naming import ATHENA_RESULTS_PREFIX, Naming
from components.policy_documents import lake_bucket_policy

# Athena reuses a query's results for at most 7 days; older ones are only copies of site data.
ATHENA_RESULTS_DAYS = 7
ATHENA_RESULTS_RULE = "expire-athena-results"


@dataclass(frozen=True)
class DataLakeArgs:
    naming: Naming
    site_prefixes: Sequence[str]  # one per site: `<site>/`
    retention_days: int
    # Prefixes of removed sites (`retiredSites`): their data keeps expiring under the same rule
    # instead of staying forever with no owner.
    retired_prefixes: Sequence[str] = ()
    # Athena cancels a query of the workgroup once it has scanned this many bytes.
    bytes_scanned_cutoff: int = 10 * 1_000_000_000
    # The bucket's owner: Athena refuses to write results to a bucket someone else owns.
    account_id: pulumi.Input[str] | None = None
    # The bucket's name (naming.lake_bucket, or the stack's dataLake.bucketName): explicit, so
    # that every document built from it is known at a first preview.
    bucket_name: pulumi.Input[str] | None = None


def retention_rule_ids(args: DataLakeArgs) -> list[str]:
    """The lifecycle rule ids, in order: a site keeps its rule id when it is retired."""
    return [f"retain-{prefix}" for prefix in (*args.site_prefixes, *args.retired_prefixes)]


def athena_results_days(retention_days: int) -> int:
    """Query results copy site data: they never outlive the data's own retention."""
    return min(ATHENA_RESULTS_DAYS, retention_days)


class DataLake(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]  # the name as given: known at preview
    key_alias: pulumi.Output[str]  # alias/hybrid-<env>-lake: IAM documents name the key by it
    key_arn: pulumi.Output[str]
    workgroup_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hybrid:platform:DataLake", name, None, opts)
        naming = args.naming
        child = pulumi.ResourceOptions(parent=self)
        tags = naming.tags(purpose="data-lake")

        key = aws.kms.Key(
            f"{name}-key",
            description=f"{naming.prefix} data lake",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=child,
        )
        alias = aws.kms.Alias(
            f"{name}-key",
            name=naming.key_alias("lake"),
            target_key_id=key.key_id,
            opts=child,
        )
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            # Without a name the provider generates one, unknown until the bucket exists.
            bucket_prefix=None if args.bucket_name is not None else f"{naming.shared('lake')}-",
            tags=tags,
            opts=child,
        )
        guards = guard_bucket(name, bucket, key.arn, child, bucket_policy=lake_bucket_policy)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.bucket,
            rules=[
                s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-uploads",
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=2
                    ),
                    noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=30
                    ),
                ),
                *(
                    s3.BucketLifecycleConfigurationRuleArgs(
                        id=rule_id,
                        status="Enabled",
                        filter=s3.BucketLifecycleConfigurationRuleFilterArgs(
                            prefix=rule_id.removeprefix("retain-") + "/"
                        ),
                        expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(
                            days=args.retention_days
                        ),
                    )
                    for rule_id in retention_rule_ids(args)
                ),
                s3.BucketLifecycleConfigurationRuleArgs(
                    id=ATHENA_RESULTS_RULE,
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(
                        prefix=ATHENA_RESULTS_PREFIX
                    ),
                    expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=athena_results_days(args.retention_days)
                    ),
                ),
            ],
            # Lifecycle rules on an unversioned bucket would need rewriting once versioning lands.
            opts=pulumi.ResourceOptions(parent=self, depends_on=guards),
        )
        workgroup = self._workgroup(name, args, bucket, key, guards)
        self.bucket_name = bucket.bucket
        self.key_alias = alias.name
        self.key_arn = key.arn
        self.workgroup_name = workgroup.name
        self.register_outputs(
            {
                "bucketName": bucket.bucket,
                "bucketArn": bucket.arn,
                "keyArn": key.arn,
                "workgroup": workgroup.name,
            }
        )

    def _workgroup(
        self,
        name: str,
        args: DataLakeArgs,
        bucket: aws.s3.Bucket,
        key: aws.kms.Key,
        guards: Sequence[pulumi.Resource],
    ) -> aws.athena.Workgroup:
        """Where users query the sites' Glue databases, with settings a client cannot override:
        results encrypted with the lake key in the lake's results prefix, and a scan limit."""
        athena = aws.athena
        return athena.Workgroup(
            f"{name}-athena",
            name=args.naming.athena_workgroup,
            description=f"Queries of the {args.naming.prefix} data lake (one Glue database per site)",
            configuration=athena.WorkgroupConfigurationArgs(
                enforce_workgroup_configuration=True,
                publish_cloudwatch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=args.bytes_scanned_cutoff,
                result_configuration=athena.WorkgroupConfigurationResultConfigurationArgs(
                    output_location=pulumi.Output.concat(
                        "s3://", bucket.bucket, "/", ATHENA_RESULTS_PREFIX
                    ),
                    expected_bucket_owner=args.account_id,
                    encryption_configuration=athena.WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgs(
                        encryption_option="SSE_KMS", kms_key_arn=key.arn
                    ),
                ),
            ),
            tags=args.naming.tags(),
            # Results land only once the bucket denies plain HTTP and stray writes to them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(guards)),
        )
