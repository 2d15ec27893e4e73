"""ImageRegistry: the ECR repository the ETL image is pushed to and every site pulls from."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import Naming

KEEP_IMAGES = 30


@dataclass(frozen=True)
class ImageRegistryArgs:
    naming: Naming


class ImageRegistry(pulumi.ComponentResource):
    repository_url: pulumi.Output[str]
    repository_arn: pulumi.Output[str]
    # The name as given (known at preview): task definitions build the image URL and the pull
    # permission from it and the account (components/arns.py).
    repository_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hybrid:platform:ImageRegistry", name, None, opts)
        naming = args.naming
        child = pulumi.ResourceOptions(parent=self)
        repository = aws.ecr.Repository(
            f"{name}-etl",
            name=naming.shared("etl"),
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS"}],
            tags=naming.tags(purpose="etl-image"),
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-etl",
            repository=repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"keep the last {KEEP_IMAGES} images",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": KEEP_IMAGES,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
            opts=child,
        )
        self.repository_url = repository.repository_url
        self.repository_arn = repository.arn
        self.repository_name = repository.name
        self.register_outputs({"repositoryUrl": repository.repository_url})
