"""DataLake: the KMS-encrypted bucket every site's extracts land in, one prefix per site."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi_aws import s3

from components.buckets import guard_bucket
from components.naming import Naming


@dataclass(frozen=True)
class DataLakeArgs:
    naming: Naming
    site_prefixes: Sequence[str]  # one per site: `<site>/`
    retention_days: int
    # Prefixes of removed sites (`retiredSites`): their data keeps expiring under the same rule
    # instead of staying forever with no owner.
    retired_prefixes: Sequence[str] = ()


def retention_rule_ids(args: DataLakeArgs) -> list[str]:
    """The lifecycle rule ids, in order: a site keeps its rule id when it is retired."""
    return [f"retain-{prefix}" for prefix in (*args.site_prefixes, *args.retired_prefixes)]


class DataLake(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]

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
        aws.kms.Alias(
            f"{name}-key",
            name=f"alias/{naming.shared('lake')}",
            target_key_id=key.key_id,
            opts=child,
        )
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix=f"{naming.shared('lake')}-",
            tags=tags,
            opts=child,
        )
        guards = guard_bucket(name, bucket, key.arn, child)
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
            ],
            # Lifecycle rules on an unversioned bucket would need rewriting once versioning lands.
            opts=pulumi.ResourceOptions(parent=self, depends_on=guards),
        )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.key_arn = key.arn
        self.register_outputs(
            {"bucketName": bucket.bucket, "bucketArn": bucket.arn, "keyArn": key.arn}
        )
