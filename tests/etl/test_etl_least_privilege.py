"""The ETL with exactly the task role's permissions: ``components.policy_documents
.task_role_policy`` for one site, enforced by a moto server with IAM checks on
(``tests/support/moto_iam.py`` says what moto checks, what it adds and what nobody checks).

The role has no ``s3:ListBucketMultipartUploads`` (it cannot be limited to a prefix): a run
aborts the uploads it started by their ids, and a stopped run leaves none behind."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from components.arns import KeyByAlias, secret_pattern
from components.policy_documents import GlueDatabaseArns, task_role_policy
from tests.etl.conftest import Db, EtlProcess, etl_args, etl_env, run_etl
from tests.support.etl_output import read_run
from tests.support.moto_iam import ACCOUNT, Credentials, IamMotoServer
from tests.support.recording_proxy import Injected, RecordingProxy

pytestmark = pytest.mark.slow

REGION = "eu-central-1"
SITE = "hq"
OTHER = "munich"
BUCKET = "hybrid-lake-test"
MIB = 1024 * 1024


@dataclass
class Stack:
    """What the stack would have made for two sites, and the hq task role's credentials."""

    aws: IamMotoServer
    secret_arn: str
    other_secret_arn: str
    database: str
    other_database: str
    role: Credentials

    def env(self, **extra: str) -> dict[str, str]:
        """The task definition's environment (docs/contracts.md section 3), as the role."""
        env = {k: v for k, v in etl_env(_NoMoto(), **extra).items() if not k.startswith("AWS_")}
        env.update(self.aws.env(self.role))
        env.update(
            ETL_SECRET_ID=self.secret_arn,
            ETL_BUCKET=BUCKET,
            ETL_SITE=SITE,
            ETL_REGION=REGION,
            ETL_FORMAT="parquet",
            ETL_GLUE_DATABASE=self.database,
            ETL_GLUE_REGION=REGION,
        )
        env.update(extra)
        return env


class _NoMoto:
    """etl_env() wants a moto server for its AWS variables; these are replaced anyway."""

    def env(self, region: str) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def stack(db: Db) -> Iterator[Stack]:
    with IamMotoServer(REGION) as aws:
        aws.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        secrets = aws.client("secretsmanager")
        arn = secrets.create_secret(Name=f"hybrid/test/{SITE}/db", SecretString=json.dumps(
            db.secret()))["ARN"]  # fmt: skip
        other = secrets.create_secret(Name=f"hybrid/test/{OTHER}/db", SecretString="{}")["ARN"]
        glue = aws.client("glue")
        databases = [f"hybrid_test_{s}" for s in (SITE, OTHER)]
        for name in databases:
            glue.create_database(DatabaseInput={"Name": name})
        # Built as components/site.py builds it: the secret by its name's ARN pattern, the lake
        # key by alias (moto does not enforce KMS, so the key statement is not exercised here).
        policy = task_role_policy(
            site=SITE,
            secret_arn=secret_pattern(
                region=REGION, account_id=ACCOUNT, name=f"hybrid/test/{SITE}/db"
            ),
            secret_key=None,
            lake_bucket_arn=f"arn:aws:s3:::{BUCKET}",
            lake_key=KeyByAlias(REGION, ACCOUNT, "alias/hybrid-test-lake"),
            log_group_arn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/hybrid/test/{SITE}",
            glue=GlueDatabaseArns.of(region=REGION, account_id=ACCOUNT, database=databases[0]),
        )
        yield Stack(aws, arn, other, databases[0], databases[1], aws.assume_role_with(policy))


def denied(call: Callable[[], Any]) -> bool:
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as e:
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status == 403 or "AccessDenied" in str(e)
    return False


def test_the_role_reaches_its_own_site_only(stack: Stack) -> None:
    """The enforcement is real: what the policy does not grant is refused."""
    s3 = stack.aws.client("s3", stack.role)
    glue = stack.aws.client("glue", stack.role)
    secrets = stack.aws.client("secretsmanager", stack.role)
    assert not denied(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{SITE}/orders/"))
    assert denied(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{OTHER}/"))
    assert denied(lambda: s3.list_objects_v2(Bucket=BUCKET))  # no prefix: every site's keys
    assert denied(lambda: s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{SITE}/"))
    assert denied(lambda: s3.put_object(Bucket=BUCKET, Key=f"{OTHER}/x", Body=b"x"))
    assert denied(lambda: s3.get_object(Bucket=BUCKET, Key=f"{SITE}/x"))
    assert denied(lambda: secrets.get_secret_value(SecretId=stack.other_secret_arn))
    assert not denied(lambda: glue.get_database(Name=stack.database))
    assert denied(lambda: glue.get_database(Name=stack.other_database))
    assert denied(lambda: glue.get_tables(DatabaseName=stack.database))
    assert denied(lambda: glue.delete_table(DatabaseName=stack.database, Name="orders"))
    table = {"Name": "orders", "StorageDescriptor": {"Columns": []}}
    assert denied(lambda: glue.create_table(DatabaseName=stack.other_database, TableInput=table))


INCREMENTAL = (
    "SELECT id, customer_id, total, note, created_at FROM orders "
    "WHERE created_at >= :interval_start AND created_at < :interval_end"
)


def interval(start: str, end: str) -> list[str]:
    run_id = start.replace("-", "").replace(":", "").replace(" ", "T")
    return [
        "--run-id",
        run_id,
        "--param",
        f"interval_start={start}",
        "--param",
        f"interval_end={end}",
    ]


def test_etl_runs_with_exactly_the_task_role(stack: Stack) -> None:
    """The DAG's command for an incremental extract, twice (the second a rerun of the same
    interval), split over two workers: data, manifest, table and partition, with nothing the
    policy does not grant; the multipart listing it may not do is skipped as expected."""
    command = [
        "--query", INCREMENTAL, "--key-prefix", f"{SITE}/orders",
        *interval("2030-11-01 02:15:00", "2030-11-02 02:15:00"),
    ]  # fmt: skip
    env = stack.env(ETL_PARALLEL="2", ETL_SPLIT_COLUMN="id")
    for attempt in ("first", "rerun"):
        run = run_etl(command, env)
        assert run.returncode == 0, f"{attempt}:\n{run.stderr}"
        cleanup = run.last("cleanup")
        assert cleanup["reason"] == "replace previous output"
        assert cleanup["listed_uploads"] is False, "the role may not list uploads"
        assert run.last("catalog")["table_change"] == ("created" if attempt == "first" else "none")
    out = read_run(stack.aws.client("s3"), BUCKET, f"{SITE}/orders/run=20301101T021500")
    assert out.manifest["rows"] == 33
    glue = stack.aws.client("glue")
    parts = glue.get_partitions(DatabaseName=stack.database, TableName="orders")["Partitions"]
    assert [p["Values"] for p in parts] == [["20301101T021500"]]


@pytest.mark.parametrize("first_abort_fails", [False, True])
def test_a_stopped_run_aborts_its_own_uploads(stack: Stack, first_abort_fails: bool) -> None:
    """SIGTERM while a part is being uploaded in parts: the run cannot list the bucket's
    uploads, so it aborts the ones it started by id; none is left (checked as the admin).
    When the uploader's own abort fails (S3 errors, every attempt), the cleanup still knows
    the upload's id and aborts it."""
    s3 = stack.aws.client("s3")  # admin: may list uploads
    prefix = f"{SITE}/big{int(first_abort_fails)}"
    query = "SELECT *, SHA2(email, 512) AS pad FROM big"  # hex: compresses little
    failures = {"left": 2 if first_abort_fails else 0}  # ETL_S3_MAX_ATTEMPTS=2

    def fail_aborts(method: str, path: str, query: dict[str, str], target: str) -> Any:
        if method == "DELETE" and "uploadId" in query and failures["left"]:
            failures["left"] -= 1
            return Injected(500, "InternalError")
        return None

    with RecordingProxy(stack.aws.endpoint, fault=fail_aborts) as proxy:
        env = stack.env(
            ETL_GLUE_DATABASE="",
            ETL_FORMAT="csv.gz",
            ETL_UPLOAD_PART_BYTES=str(5 * MIB),
            AWS_ENDPOINT_URL=proxy.endpoint,
        )
        args = [*etl_args(stack.secret_arn, BUCKET, query, prefix), "--run-id", "r"]
        etl = EtlProcess(args, env)
        deadline = time.monotonic() + 60
        while not s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{prefix}/").get("Uploads"):
            assert etl.proc.poll() is None, "".join(etl.lines)
            assert time.monotonic() < deadline, "no multipart upload started"
            time.sleep(0.02)
        etl.proc.send_signal(signal.SIGTERM)
        run = etl.finish(timeout=25)
    assert run.returncode == 128 + signal.SIGTERM, run.stderr
    assert failures["left"] == 0
    cleanup = run.last("cleanup")
    assert cleanup["reason"] == "failed run"
    assert cleanup["listed_uploads"] is False
    assert cleanup["aborted_uploads"] == (1 if first_abort_fails else 0), run.stderr
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{prefix}/").get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/").get("KeyCount") == 0
