"""A moto server that enforces IAM, in a process of its own, with what moto's evaluator leaves
out filled in, so a test can run a program with exactly one role's permissions.

moto 5.2.5 checks identity policies once ``INITIAL_NO_AUTH_ACTION_COUNT`` is reached (here:
from ``enforce()`` on). As it comes, it authorises:

- S3: the action (``s3:ListBucket``, ``s3:PutObject``, ``s3:ListBucketMultipartUploads``, ...)
  on the bucket or object ARN. Good as it is, but for the two points below.
- Glue, Secrets Manager (and every other JSON API without a ``_determine_resource``): the
  action against the resource ``"*"``, so a statement that names ARNs never matches and every
  call is denied. Added here: the ARNs AWS authorises. Glue: the catalog, the database and the
  table, all three (docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html);
  Secrets Manager: the secret's ARN.
- Conditions: only ``StringEquals`` is evaluated, other operators are ignored (the statement then
  applies unconditionally), requests supply no condition keys, and an ``Allow`` whose condition
  fails *denies*. Added here: ``StringLike``, the ``s3:prefix`` key of bucket listings, a
  condition on an absent key fails, and a failed ``Allow`` merely does not allow.
- Wildcards: ``*`` becomes ``.*`` and the rest of the pattern is used as a regular expression,
  so ``?`` (one character, as in a secret's ``<name>-??????``) is a quantifier and ``.`` matches
  anything. Added here: IAM's own matching, ``*`` and ``?`` only, everything else literal.
- ``DeleteObjects``: ``s3:DeleteObject`` on the bucket ARN (so a grant on ``bucket/site/*``
  never matches); AWS checks each key. Added here: each key.

Not checked at all, with or without this module: KMS (moto's S3 does not call KMS for a bucket
without SSE-KMS), CloudWatch Logs (the ETL does not call it: ECS's awslogs driver ships its
output), ``aws:SecureTransport`` and other global condition keys (moto serves plain HTTP).

    with IamMotoServer() as aws:            # IAM enforced from here on
        admin = aws.client("s3")            # a user allowed everything, for the test's setup
        creds = aws.assume_role_with(policy_document)
        ... run the program with aws.env(creds) ...
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account
_ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


class IamMotoServer:
    """moto in a child process (IAM enforcement is process-wide state in moto: the session's
    other moto servers must not see it), with an admin user made before enforcement."""

    def __init__(self, region: str = "eu-central-1") -> None:
        self.region = region
        self.endpoint = ""
        self.proc: subprocess.Popen[str] | None = None
        self.admin: Credentials | None = None

    def __enter__(self) -> IamMotoServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.moto_iam"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.__exit__()
            raise RuntimeError(f"moto with IAM did not start (said {port!r})")
        self.endpoint = f"http://127.0.0.1:{port}"
        iam = self._client("iam", Credentials("testing", "testing"))
        iam.create_user(UserName="admin")
        iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=_ALLOW_ALL)
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        self.admin = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        self.enforce()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            if self.proc.stdin:
                self.proc.stdin.close()  # the child stops its server at end of input
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def enforce(self) -> None:
        """Check every request against IAM from now on."""
        request = urllib.request.Request(  # noqa: S310 - the local moto server
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},  # not a form: moto reads the raw body
        )
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            assert resp.status == 200

    def _client(self, service: str, creds: Credentials) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
        )

    def client(self, service: str, creds: Credentials | None = None) -> Any:
        """A client with ``creds``, by default the admin's."""
        creds = creds or self.admin
        assert creds is not None
        return self._client(service, creds)

    def assume_role_with(self, policy: dict[str, Any], name: str | None = None) -> Credentials:
        """A role whose only permissions are ``policy`` (inline), assumed by the admin."""
        name = name or f"role-{uuid.uuid4().hex[:8]}"
        iam = self.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/admin"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        iam.put_role_policy(RoleName=name, PolicyName="only", PolicyDocument=json.dumps(policy))
        c = self.client("sts").assume_role(RoleArn=arn, RoleSessionName="etl")["Credentials"]
        return Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])

    def env(self, creds: Credentials) -> dict[str, str]:
        """What points boto3 (in another process) at this server with ``creds``."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            **creds.env(),
        }


# -- what runs in the child process ---------------------------------------------------------


def _like(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    )


def _string_like(expected: list[str] | str, actual: str) -> bool:
    patterns = [expected] if isinstance(expected, str) else expected
    return any(_like(p).fullmatch(actual) for p in patterns)


def _condition_values(request: Any) -> dict[str, str]:
    """Condition keys of a request (what AWS puts in the request context)."""
    values: dict[str, str] = {}
    if request._action in ("s3:ListBucket", "s3:ListBucketMultipartUploads"):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request._path).query)
        if "prefix" in query:
            values["s3:prefix"] = query["prefix"][0]
    return values


def _glue_arns(response: Any) -> list[str]:
    params = json.loads(response.body or "{}")
    action = response._get_action()
    head = f"arn:aws:glue:{response.region}:{response.current_account}"
    names_database = action in ("GetDatabase", "UpdateDatabase", "DeleteDatabase")
    names_table = action in ("GetTable", "DeleteTable")
    database = (
        params.get("DatabaseName")
        or (params.get("Name") if names_database else None)
        or (params.get("DatabaseInput") or {}).get("Name")
    )
    table = (
        params.get("TableName")
        or (params.get("Name") if names_table else None)
        or (params.get("TableInput") or {}).get("Name")
    )
    arns = [f"{head}:catalog"]
    if database:
        arns.append(f"{head}:database/{database}")
        if table:
            arns.append(f"{head}:table/{database}/{table}")
    return arns


def patch_moto() -> None:
    """Fill in what the module docstring lists (moto's own evaluator does the matching)."""
    import xmltodict
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.glue.responses import GlueResponse
    from moto.iam import access_control as ac
    from moto.iam import policy_conditions
    from moto.s3.responses import S3Response
    from moto.secretsmanager.responses import SecretsManagerResponse

    policy_conditions.CONDITION_OPERATIONS["StringLike"] = _string_like

    def check_conditions(self: Any, incoming: dict[str, str] | None) -> bool:
        for operator, pairs in (self._statement.get("Condition") or {}).items():
            verify = policy_conditions.CONDITION_OPERATIONS.get(operator)
            for key, expected in pairs.items():
                if verify is None or not incoming or key not in incoming:
                    return False  # an absent key, or an operator not modelled: no match
                if not verify(expected, incoming[key]):
                    return False
        return True

    statement_permits = ac.IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = statement_permits(self, *args, **kwargs)
        if result == ac.PermissionResult.DENIED and self._statement.get("Effect") == "Allow":
            return ac.PermissionResult.NEUTRAL  # an Allow that does not apply denies nothing
        return result

    def check_action_permitted(self: Any, resource: str) -> None:
        if self._action == "sts:GetCallerIdentity":
            return
        values = _condition_values(self)
        permitted = False
        for policy in self._access_key.collect_policies():
            result = ac.IAMPolicy(policy).is_action_permitted(self._action, resource, None, values)
            if result == ac.PermissionResult.DENIED:
                self._raise_access_denied()
            permitted = permitted or result == ac.PermissionResult.PERMITTED
        if self._is_assuming_role_operation(resource):
            permitted = permitted and self._check_role_trust_relationship(resource)
        if not permitted:
            self._raise_access_denied()

    def match(pattern: str, string: str) -> re.Match[str] | None:
        return _like(pattern).fullmatch(string)

    ac.IAMPolicyStatement._match = staticmethod(match)  # type: ignore[method-assign,assignment]
    ac.IAMPolicyStatement._check_conditions = check_conditions  # type: ignore[method-assign]
    ac.IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]
    ac.IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]

    def glue_authorize(self: Any, resource: str = "*") -> None:
        for arn in _glue_arns(self):
            ActionAuthenticatorMixin._authenticate_and_authorize_normal_action(self, arn)

    GlueResponse._authenticate_and_authorize_normal_action = glue_authorize  # type: ignore[method-assign]

    def secret_arn(self: Any) -> str:
        secret_id = self._get_param("SecretId")
        secret = self.backend.secrets.get(secret_id) if secret_id else None
        return secret.arn if secret is not None else "*"

    SecretsManagerResponse._determine_resource = secret_arn  # type: ignore[attr-defined]

    s3_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_s3_action

    def s3_authorize_keys(
        self: Any, bucket_name: str | None = None, key_name: str | None = None
    ) -> None:
        if key_name is None and bucket_name and self.data.get("Action") == "DeleteObject":
            objects = xmltodict.parse(self.body)["Delete"].get("Object", [])
            for obj in objects if isinstance(objects, list) else [objects]:
                s3_authorize(self, bucket_name=bucket_name, key_name=obj["Key"])
            return
        s3_authorize(self, bucket_name=bucket_name, key_name=key_name)

    S3Response._authenticate_and_authorize_s3_action = s3_authorize_keys  # type: ignore[method-assign]


def main() -> None:
    """Serve until standard input closes; print the port first."""
    import logging

    from moto.server import ThreadedMotoServer

    patch_moto()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
