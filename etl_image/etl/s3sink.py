"""The S3 side: multipart uploads of part files, the manifest, and cleanup."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from etl.config import Config
from etl.errors import SinkError
from etl.log import Log

T = TypeVar("T")


def aws_client(
    cfg: Config,
    service: str,
    session: Any = None,
    *,
    timeout: float | None = None,
    attempts: int | None = None,
) -> Any:
    """A boto3 client with the run's timeouts and retries; ``AWS_ENDPOINT_URL`` (honoured by
    boto3) points it elsewhere."""
    import boto3
    from botocore.config import Config as BotoConfig

    session = session or boto3.session.Session(region_name=cfg.region)
    timeout = timeout or cfg.tuning.s3_timeout
    return session.client(
        service,
        config=BotoConfig(
            retries={"max_attempts": attempts or cfg.tuning.s3_max_attempts, "mode": "standard"},
            connect_timeout=timeout,
            read_timeout=timeout,
            tcp_keepalive=True,
            max_pool_connections=4,
        ),
    )


def s3_client(cfg: Config, session: Any = None) -> Any:
    return aws_client(cfg, "s3", session)


def s3_call(what: str, fn: Callable[..., T], **kwargs: Any) -> T:
    """Call ``fn(**kwargs)``; botocore errors become ``SinkError`` (exit 4)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as e:
        err = e.response.get("Error", {})
        raise SinkError(
            f"S3 {what} failed: {err.get('Code', 'ClientError')}: {err.get('Message', '')}".rstrip(
                ": "
            )
        ) from None
    except BotoCoreError as e:
        raise SinkError(f"S3 {what} failed: {type(e).__name__}: {e}") from None


@dataclass
class PartFile:
    number: int
    key: str
    rows: int = 0
    bytes: int = 0
    sha256: str = ""

    def as_manifest(self) -> dict[str, Any]:
        return {"key": self.key, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}


class PartWriter:
    """Uploads one part file as it is produced: S3 multipart once the first upload part is
    full, a single PUT when the whole file is smaller than one upload part."""

    def __init__(self, s3: Any, bucket: str, part: PartFile, content_type: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.part = part
        self.content_type = content_type
        self.upload_id: str | None = None
        self.etags: list[dict[str, Any]] = []
        self.sha = hashlib.sha256()

    def upload(self, data: bytes | bytearray) -> None:
        """Upload one multipart part (all but the last must be >= 5 MiB)."""
        if self.upload_id is None:
            resp = s3_call(
                "CreateMultipartUpload",
                self.s3.create_multipart_upload,
                Bucket=self.bucket,
                Key=self.part.key,
                ContentType=self.content_type,
            )
            self.upload_id = resp["UploadId"]
        number = len(self.etags) + 1
        resp = s3_call(
            "UploadPart",
            self.s3.upload_part,
            Bucket=self.bucket,
            Key=self.part.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.etags.append({"PartNumber": number, "ETag": resp["ETag"]})
        self.sha.update(data)
        self.part.bytes += len(data)

    def finish(self, data: bytes | bytearray, rows: int) -> PartFile:
        """Upload the last bytes and make the object visible."""
        self.part.rows = rows
        if self.upload_id is None:
            s3_call(
                "PutObject",
                self.s3.put_object,
                Bucket=self.bucket,
                Key=self.part.key,
                Body=data,
                ContentType=self.content_type,
            )
            self.sha.update(data)
            self.part.bytes += len(data)
        else:
            if data:
                self.upload(data)
            s3_call(
                "CompleteMultipartUpload",
                self.s3.complete_multipart_upload,
                Bucket=self.bucket,
                Key=self.part.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.etags},
            )
            self.upload_id = None
        self.part.sha256 = self.sha.hexdigest()
        return self.part

    def abort(self) -> None:
        """Best effort: the run's cleanup sweep retries whatever this leaves."""
        if self.upload_id is not None:
            try:
                self.s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.part.key, UploadId=self.upload_id
                )
                self.upload_id = None
            except Exception:  # noqa: S110 - the sweep retries
                pass


def _sweep_once(s3: Any, bucket: str, prefix: str) -> tuple[int, int]:
    """Abort multipart uploads and delete objects under ``prefix`` (manifest first)."""
    aborted = 0
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        resp = s3_call("ListMultipartUploads", s3.list_multipart_uploads, **kwargs)
        for up in resp.get("Uploads", []):
            if up["Key"].startswith(prefix):
                s3_call(
                    "AbortMultipartUpload",
                    s3.abort_multipart_upload,
                    Bucket=bucket,
                    Key=up["Key"],
                    UploadId=up["UploadId"],
                )
                aborted += 1
        if not resp.get("IsTruncated"):
            break
        kwargs["KeyMarker"] = resp.get("NextKeyMarker")
        kwargs["UploadIdMarker"] = resp.get("NextUploadIdMarker")

    keys: list[str] = []
    kwargs = {"Bucket": bucket, "Prefix": prefix}
    while True:
        resp = s3_call("ListObjectsV2", s3.list_objects_v2, **kwargs)
        keys.extend(o["Key"] for o in resp.get("Contents", []) if o["Key"].startswith(prefix))
        if not resp.get("IsTruncated"):
            break
        kwargs["ContinuationToken"] = resp["NextContinuationToken"]
    # The manifest goes first: nobody may see a manifest whose parts are gone.
    keys.sort(key=lambda k: (not k.endswith("/_manifest.json"), k))
    manifests = [k for k in keys if k.endswith("/_manifest.json")]
    for key in manifests:
        s3_call("DeleteObject", s3.delete_object, Bucket=bucket, Key=key)
    rest = [k for k in keys if k not in manifests]
    for i in range(0, len(rest), 1000):
        batch = rest[i : i + 1000]
        resp = s3_call(
            "DeleteObjects",
            s3.delete_objects,
            Bucket=bucket,
            Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
        )
        if resp.get("Errors"):
            first = resp["Errors"][0]
            raise SinkError(f"S3 DeleteObjects failed: {first.get('Code')}: {first.get('Key')}")
    return aborted, len(keys)


def sweep(
    s3: Any,
    bucket: str,
    prefix: str,
    log: Log,
    *,
    reason: str,
    until: Callable[[], float] | None = None,
    settle: bool = False,
) -> None:
    """Remove everything under ``prefix``. A failed pass is retried until the monotonic time
    ``until()`` (read again before each retry: a stop signal brings it forward). With
    ``settle``, passes repeat until one finds nothing, so an upload that was still in flight
    when the previous pass listed does not survive it. Raises ``SinkError`` when it cannot."""
    started = time.monotonic()
    delay = 0.25
    attempt = 0
    aborted = deleted = 0
    while True:
        attempt += 1
        try:
            a, d = _sweep_once(s3, bucket, prefix)
        except SinkError as e:
            deadline = until() if until else started
            if time.monotonic() + delay > deadline:
                log.error("cleanup", reason=reason, prefix=prefix, attempts=attempt, error=str(e))
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        aborted += a
        deleted += d
        if settle and (a or d) and attempt < 5:
            continue
        log.info(
            "cleanup",
            reason=reason,
            prefix=prefix,
            aborted_uploads=aborted,
            deleted_objects=deleted,
            attempts=attempt,
            seconds=round(time.monotonic() - started, 3),
        )
        return
