"""Read what the ETL (``etl_image``) wrote to S3: manifest, part files, CSV rows.

The ETL's CSV quotes every non-NULL value and writes NULL as an empty unquoted field (a
one-column NULL row is an empty line). Python 3.11's csv module can't tell NULL from "", so
``parse_csv`` does it here.
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
    rows: list[Row]
    keys: list[str]


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
    header: list[str] | None = None
    rows: list[Row] = []
    for part in parts:
        body = s3.get_object(Bucket=bucket, Key=part["key"])["Body"].read()
        assert len(body) == part["bytes"], part["key"]
        assert hashlib.sha256(body).hexdigest() == part["sha256"], part["key"]
        parsed = parse_csv(gzip.decompress(body).decode("utf-8"))
        part_header = [c or "" for c in parsed[0]]
        assert header is None or part_header == header
        header = part_header
        assert len(parsed) - 1 == part["rows"], part["key"]
        rows += parsed[1:]
    assert header == manifest["columns"]
    assert len(rows) == manifest["rows"]
    return RunOutput(manifest=manifest, header=header or [], rows=rows, keys=keys)
