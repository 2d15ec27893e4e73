"""Offline stand-ins for the AWS provider: plausible, deterministic outputs for every resource.

Resources get what a real deployment would compute (id, name, arn, ...) so that references
between them resolve, as in `pulumi up`. Nothing here talks to AWS.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi

ACCOUNT_ID = "123456789012"

# Type token -> (service, resource path template). {name} is the physical name, {region} the region.
_ARN_TEMPLATES = {
    "aws:ecs/cluster:Cluster": "arn:aws:ecs:{region}:{account}:cluster/{name}",
    "aws:ecs/taskDefinition:TaskDefinition": "arn:aws:ecs:{region}:{account}:task-definition/{name}:1",
    "aws:iam/role:Role": "arn:aws:iam::{account}:role/{name}",
    "aws:iam/policy:Policy": "arn:aws:iam::{account}:policy/{name}",
    "aws:secretsmanager/secret:Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}",
    "aws:kms/key:Key": "arn:aws:kms:{region}:{account}:key/{uuid}",
    "aws:cloudwatch/logGroup:LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}",
    "aws:ecr/repository:Repository": "arn:aws:ecr:{region}:{account}:repository/{name}",
    "aws:s3/bucket:Bucket": "arn:aws:s3:::{name}",
    "aws:mwaa/environment:Environment": "arn:aws:airflow:{region}:{account}:environment/{name}",
    "aws:ssm/activation:Activation": "arn:aws:ssm:{region}:{account}:activation/{uuid}",
    "aws:glue/catalogDatabase:CatalogDatabase": "arn:aws:glue:{region}:{account}:database/{name}",
    "aws:athena/workgroup:Workgroup": "arn:aws:athena:{region}:{account}:workgroup/{name}",
}

# Types whose physical name lives in another property than `name`.
_NAME_PROPERTY = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:ecs/taskDefinition:TaskDefinition": "family",
}

# Types whose id is a generated one (vpc-..., subnet-...), not the name.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
}


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


class PlatformMocks(pulumi.runtime.Mocks):
    """`salt` is appended to every value the provider computes (ids, ARNs, generated names,
    URLs; not the inputs it echoes): two captures with different salts differ exactly where the
    program passed on a provider-computed value, even one that a name would predict (an ARN),
    which is how tests tell those inputs apart from values built from names."""

    def __init__(self, region: str, salt: str = "") -> None:
        self.region = region
        self.salt = salt

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        outputs: dict[str, Any] = dict(inputs)
        token = args.typ
        seed = f"{token}::{args.name}"
        region = inputs.get("region") or self.region
        outputs.setdefault("region", region)

        name_key = _NAME_PROPERTY.get(token, "name")
        name = inputs.get(name_key)
        if not isinstance(name, str):
            prefix = inputs.get(f"{name_key}Prefix") or f"{args.name}-"
            name = f"{prefix}{_digest(seed, 7)}"
            outputs[name_key] = name
        outputs.setdefault("name", name)

        template = _ARN_TEMPLATES.get(token)
        arn = (template or "arn:aws:{service}:{region}:{account}:{kind}/{name}").format(
            region=region,
            account=ACCOUNT_ID,
            name=name,
            suffix=_digest(seed, 6),
            uuid=_uuid(seed),
            service=token.split(":")[1].split("/")[0],
            kind=token.rsplit(":", 1)[-1].lower(),
        )
        outputs.setdefault("arn", arn)
        resource_id = name
        if token in _ID_PREFIX:
            resource_id = f"{_ID_PREFIX[token]}-{_digest(seed, 17)}"
        elif token in ("aws:secretsmanager/secret:Secret", "aws:mwaa/environment:Environment"):
            resource_id = arn
        elif token in ("aws:kms/key:Key", "aws:ssm/activation:Activation"):
            resource_id = _uuid(seed)
        outputs.update(_computed(token, outputs, region, resource_id, seed))
        if self.salt:
            resource_id += self.salt
            for key, value in outputs.items():
                if key not in inputs and key != "region" and isinstance(value, str):
                    outputs[key] = value + self.salt
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline",
                "userId": "OFFLINE",
                "id": ACCOUNT_ID,
            }, []
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            region = args.args.get("region") or self.region
            names = [f"{region}{zone}" for zone in "abc"]
            return {"names": names, "zoneIds": names, "id": region}, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        return {}, []


def _uuid(seed: str) -> str:
    h = _digest(seed, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _computed(
    token: str, outputs: dict[str, Any], region: str, resource_id: str, seed: str
) -> dict[str, Any]:
    """Outputs a provider computes that the program reads."""
    if token == "aws:ecs/taskDefinition:TaskDefinition":
        return {"arnWithoutRevision": outputs["arn"].rsplit(":", 1)[0], "revision": 1}
    if token == "aws:kms/key:Key":
        return {"keyId": resource_id}
    if token == "aws:ecr/repository:Repository":
        return {"repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{outputs['name']}"}
    if token == "aws:ssm/activation:Activation":
        return {"activationCode": f"offline-{_digest(seed + 'code', 20)}", "expired": False}
    if token == "aws:s3/bucketObjectv2:BucketObjectv2":
        return {"versionId": _digest(seed + "version", 32)}
    if token == "aws:mwaa/environment:Environment":
        return {"webserverUrl": f"{_digest(seed, 12)}.{region}.airflow.amazonaws.com"}
    return {}
