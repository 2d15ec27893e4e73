"""Two promises that only show in *how* the ETL works: the manifest is written after the
data, and row values never reach the logs. Each test here fails if its promise is broken."""

from __future__ import annotations

from typing import Any

import pytest

from tests.etl.conftest import DB_PASSWORD, Db, etl_args, etl_env, put_secret, run_etl
from tests.support.etl_output import list_prefix, read_run
from tests.support.recording_proxy import RecordingProxy
from tests.support.services import MotoServer

pytestmark = pytest.mark.slow

PREFIX = "exports/guarantees"
MIB = 1024 * 1024


@pytest.mark.parametrize(("fmt", "parallel"), [("parquet", "2"), ("csv.gz", "1")])
def test_manifest_is_written_after_every_part(
    db: Db, moto: MotoServer, s3: Any, bucket: str, fmt: str, parallel: str
) -> None:
    """Watched on the wire: each part file is complete (PutObject or
    CompleteMultipartUpload answered) before the one PUT of ``_manifest.json`` starts, and
    nothing is written after it."""
    secret = put_secret(moto, db.secret())
    with RecordingProxy(moto.endpoint) as proxy:
        env = etl_env(
            moto,
            AWS_ENDPOINT_URL=proxy.endpoint,
            ETL_PART_MAX_BYTES=str(12 * MIB),  # several files, most of them multipart
            ETL_UPLOAD_PART_BYTES=str(5 * MIB),
            ETL_PARALLEL=parallel,
            ETL_SPLIT_COLUMN="id",
        )
        # ~40 MB of hex digests: what neither gzip nor zstd shrinks much
        query = "SELECT *, SHA2(email, 512) AS pad, SHA2(name, 512) AS pad2 FROM big"
        run = run_etl(
            etl_args(secret, bucket, query, PREFIX, "--run-id", fmt, "--format", fmt), env
        )
    assert run.returncode == 0, run.stderr
    out = read_run(s3, bucket, f"{PREFIX}/run={fmt}")
    parts = out.manifest["parts"]
    assert len(parts) >= 2

    run_path = f"/{bucket}/{PREFIX}/run={fmt}/"
    writes = [
        r for r in proxy.requests if r.method in ("PUT", "POST") and r.path.startswith(run_path)
    ]
    manifests = [r for r in writes if r.path.endswith("/_manifest.json")]
    assert len(manifests) == 1, "the manifest is written exactly once"
    manifest = manifests[0]
    assert writes[-1] is manifest, "nothing is written after the manifest"

    def completes(key: str) -> list[Any]:
        return [
            r
            for r in writes
            if r.path == f"/{bucket}/{key}"
            and r.status == 200
            and (
                (r.method == "PUT" and "partNumber" not in r.query)  # PutObject
                or (r.method == "POST" and "uploadId" in r.query)  # CompleteMultipartUpload
            )
        ]

    multipart = 0
    for part in parts:
        done = completes(part["key"])
        assert len(done) == 1, part["key"]
        assert done[0].finished <= manifest.started, f"{part['key']} finished after the manifest"
        multipart += done[0].method == "POST"
    assert multipart >= 1


ROW_300 = "SELECT id, email, row_check(email) AS ok FROM customers ORDER BY id"


@pytest.mark.parametrize(
    ("reader", "fmt", "query", "expected_error"),
    [
        # mid-stream: the function refuses row 300 of 500, quoting its email
        ("wire", "parquet", ROW_300, "(1644) refusing row with email '?'"),
        ("fetchmany", "csv.gz", ROW_300, "(1644) refusing row with email '?'"),
        ("wire", "csv.gz", ROW_300, "(1644) refusing row with email '?'"),
        # before the first row: the server evaluates the constant subquery at once
        (
            "wire",
            "parquet",
            "SELECT EXTRACTVALUE('<a/>', CONCAT('~', (SELECT email FROM customers WHERE id = 300)))",
            "(1105) XPATH syntax error: '?'",
        ),
    ],
)
def test_row_values_in_database_errors_stay_out_of_the_logs(
    db: Db,
    moto: MotoServer,
    s3: Any,
    bucket: str,
    reader: str,
    fmt: str,
    query: str,
    expected_error: str,
) -> None:
    secret = put_secret(moto, db.secret())
    run = run_etl(
        etl_args(secret, bucket, query, PREFIX, "--run-id", "redact", "--format", fmt),
        etl_env(moto, ETL_ROW_READER=reader, ETL_FETCH_SIZE="50"),
    )
    assert run.returncode == 3, run.stderr
    failed = run.last("failed")
    assert failed["kind"] == "source"
    assert expected_error in failed["error"], failed  # the error the row caused...
    assert "'?'" in failed["error"], failed  # ... with the value's place redacted
    assert "user300" not in run.stderr  # the row value, in no log line
    assert DB_PASSWORD not in run.stderr
    assert list_prefix(s3, bucket, f"{PREFIX}/run=redact/") == ([], [])
