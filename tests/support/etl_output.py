"""Read what the ETL (``etl_image``) wrote to S3: manifest, part files, rows.

Parquet parts are read with pyarrow (rows as Python values, the table and its schema kept);
CSV parts with ``parse_csv``: the ETL's CSV quotes every non-NULL value and writes NULL as an
empty unquoted field (a one-column NULL row is an empty line), which Python 3.11's csv module
can't tell from "".
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from typing import Any

Row = list[str | None]


def parse_csv(text: str) -> list[Row]:
    """Parse the ETL's CSV dialect into rows of ``str`` (quoted) and ``None`` (NULL)."""
    rows: list[Row] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("\r\n", i):
            rows.append([None])
            i += 2
            continue
        row: Row = []
        while True:
            if i < n and text[i] == '"':
                j = i + 1
                pieces: list[str] = []
                while True:
                    k = text.index('"', j)
                    pieces.append(text[j:k])
                    if text.startswith('"', k + 1):
                        pieces.append('"')
                        j = k + 2
                        continue
                    i = k + 1
                    break
                row.append("".join(pieces))
            else:
                row.append(None)
            if text.startswith(",", i):
                i += 1
                continue
            if text.startswith("\r\n", i):
                i += 2
                break
            raise ValueError(f"bad CSV at offset {i}: {text[i : i + 20]!r}")
        rows.append(row)
    return rows


@dataclass
class RunOutput:
    manifest: dict[str, Any]
    header: list[str]
    rows: list[Any]  # CSV: lists of str/None; Parquet: lists of Python values
    keys: list[str]
    table: Any = None  # Parquet: the pyarrow Table of all parts
    bodies: list[bytes] | None = None  # the part files as stored


def list_prefix(s3: Any, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
    """(object keys, keys of in-progress multipart uploads) under ``prefix``."""
    keys: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        resp = s3.list_objects_v2(**kwargs)
        keys += [o["Key"] for o in resp.get("Contents", [])]
        if not resp.get("IsTruncated"):
            break
        kwargs["ContinuationToken"] = resp["NextContinuationToken"]
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    return sorted(keys), [u["Key"] for u in uploads if u["Key"].startswith(prefix)]


def read_run(s3: Any, bucket: str, run_prefix: str) -> RunOutput:
    """Download a complete run, check every part against the manifest, return all rows."""
    run_prefix = run_prefix.rstrip("/") + "/"
    keys, uploads = list_prefix(s3, bucket, run_prefix)
    assert not uploads, f"unfinished multipart uploads: {uploads}"
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key=run_prefix + "_manifest.json")["Body"].read()
    )
    parts = manifest["parts"]
    assert sorted([p["key"] for p in parts] + [run_prefix + "_manifest.json"]) == keys
    names = [c["name"] for c in manifest["columns"]]
    bodies = []
    for part in parts:
        body = s3.get_object(Bucket=bucket, Key=part["key"])["Body"].read()
        assert len(body) == part["bytes"], part["key"]
        assert hashlib.sha256(body).hexdigest() == part["sha256"], part["key"]
        bodies.append(body)
    if manifest["format"] == "parquet":
        out = _read_parquet(manifest, bodies)
    else:
        out = _read_csv(manifest, bodies)
    assert out.header == names
    assert len(out.rows) == manifest["rows"]
    out.keys = keys
    out.bodies = bodies
    return out


def _read_csv(manifest: dict[str, Any], bodies: list[bytes]) -> RunOutput:
    header: list[str] | None = None
    rows: list[Row] = []
    for part, body in zip(manifest["parts"], bodies, strict=True):
        assert part["key"].endswith(".csv.gz")
        parsed = parse_csv(gzip.decompress(body).decode("utf-8"))
        part_header = [c or "" for c in parsed[0]]
        assert header is None or part_header == header
        header = part_header
        assert len(parsed) - 1 == part["rows"], part["key"]
        rows += parsed[1:]
    return RunOutput(manifest=manifest, header=header or [], rows=rows, keys=[])


def _read_parquet(manifest: dict[str, Any], bodies: list[bytes]) -> RunOutput:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for part, body in zip(manifest["parts"], bodies, strict=True):
        assert part["key"].endswith(".parquet")
        table = pq.read_table(pa.BufferReader(body))
        assert table.num_rows == part["rows"], part["key"]
        tables.append(table)
    schema = tables[0].schema
    assert all(t.schema.equals(schema) for t in tables)
    for field, column in zip(schema, manifest["columns"], strict=True):
        assert str(field.type) == column["arrow_type"], (field, column)
        assert field.nullable == column["nullable"], (field, column)
    table = pa.concat_tables(tables)
    columns = [c.to_pylist() for c in table.columns]
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
    return RunOutput(manifest, [f.name for f in schema], rows, [], table=table)
