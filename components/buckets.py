"""The guard rails every bucket of the platform gets: SSE-KMS, versioning, no public access, TLS only."""

from __future__ import annotations

import json
from collections.abc import Callable

import pulumi
import pulumi_aws as aws

from components import arns
from components.policy_documents import Document, tls_only_bucket_policy


def guard_bucket(
    name: str,
    bucket: aws.s3.Bucket,
    key_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    bucket_policy: Callable[[str], Document] = tls_only_bucket_policy,
) -> list[pulumi.Resource]:
    """Attach the settings the `lake-*` policies require; returns them for `depends_on`.

    `bucket_policy` (of the bucket's ARN) must keep the TLS-only statement; a bucket may add its
    own denies to it. The ARN is built from the bucket's name (given explicitly, so known at a
    first preview), not read from the provider.
    """
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.bucket,
        rules=[
            {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": key_arn,
                },
                "bucket_key_enabled": True,
            }
        ],
        opts=opts,
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.bucket,
        versioning_configuration={"status": "Enabled"},
        opts=opts,
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.bucket,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    tls_only = aws.s3.BucketPolicy(
        f"{name}-tls-only",
        bucket=bucket.bucket,
        policy=bucket.bucket.apply(lambda name: json.dumps(bucket_policy(arns.bucket(name)))),
        # S3 rejects a bucket policy while the public access block is being written.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[public_access])),
    )
    return [encryption, versioning, public_access, tls_only]
