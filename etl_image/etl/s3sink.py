"""The S3 side: multipart uploads of part files, the manifest, and cleanup.

Least privilege shapes the cleanup: the task role may list, write and delete objects under its
site's prefix only. Listing in-progress multipart uploads (``s3:ListBucketMultipartUploads``)
cannot be limited to a prefix, so the role does not get it (it would show every site's
in-progress keys). A run therefore aborts the uploads it started itself, by the ids it keeps in
``OPEN_UPLOADS`` (a ``--parallel`` worker reports its open ones to the supervisor), and treats a
refused listing as expected. Uploads of a run killed outright (SIGKILL, out of memory) are
reaped by the lake's lifecycle rule ``abort-incomplete-uploads``; where the listing is allowed
(a hand run with broader rights) the sweep uses it too.
"""

from __future__ import annotations

import hashlib
import threading
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
    region: str | None = None,
) -> Any:
    """A boto3 client with the run's timeouts and retries; ``AWS_ENDPOINT_URL`` (honoured by
    boto3) points it elsewhere. ``region`` overrides the session's."""
    import boto3
    from botocore.config import Config as BotoConfig

    session = session or boto3.session.Session(region_name=cfg.region)
    timeout = timeout or cfg.tuning.s3_timeout
    return session.client(
        service,
        region_name=region,
        config=BotoConfig(
            # total_max_attempts counts the first try too (max_attempts would count retries)
            retries={
                "total_max_attempts": attempts or cfg.tuning.s3_max_attempts,
                "mode": "standard",
            },
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
        code = err.get("Code", "ClientError")
        raise SinkError(
            f"S3 {what} failed: {code}: {err.get('Message', '')}".rstrip(": "), code=code
        ) from None
    except BotoCoreError as e:
        raise SinkError(f"S3 {what} failed: {type(e).__name__}: {e}") from None


class OpenUploads:
    """Multipart uploads this process started and has neither completed nor aborted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}  # upload id -> key

    def add(self, key: str, upload_id: str) -> None:
        with self._lock:
            self._keys[upload_id] = key

    def discard(self, upload_id: str) -> None:
        with self._lock:
            self._keys.pop(upload_id, None)

    def snapshot(self) -> list[tuple[str, str]]:
        """(key, upload id) pairs."""
        with self._lock:
            return [(key, upload_id) for upload_id, key in self._keys.items()]


OPEN_UPLOADS = OpenUploads()


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
            OPEN_UPLOADS.add(self.part.key, resp["UploadId"])
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
            OPEN_UPLOADS.discard(self.upload_id)
            self.upload_id = None
        self.part.sha256 = self.sha.hexdigest()
        return self.part

    def abort(self) -> None:
        """Best effort: the run's cleanup sweep retries whatever this leaves (``OPEN_UPLOADS``)."""
        if self.upload_id is not None:
            try:
                self.s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.part.key, UploadId=self.upload_id
                )
                OPEN_UPLOADS.discard(self.upload_id)
                self.upload_id = None
            except Exception:  # noqa: S110 - the sweep retries
                pass


@dataclass
class _Listing:
    """Whether ListMultipartUploads is allowed (the task role may not: see the docstring)."""

    allowed: bool = True


def _abort(s3: Any, bucket: str, key: str, upload_id: str) -> None:
    try:
        s3_call(
            "AbortMultipartUpload",
            s3.abort_multipart_upload,
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
        )
    except SinkError as e:
        if e.fields.get("code") != "NoSuchUpload":  # already completed or aborted
            raise
    OPEN_UPLOADS.discard(upload_id)


def _abort_uploads(s3: Any, bucket: str, prefix: str, listing: _Listing) -> int:
    """Abort this process's own open uploads under ``prefix``, then, if the listing is
    allowed, any other upload under it (a previous attempt's)."""
    aborted = 0
    for key, upload_id in OPEN_UPLOADS.snapshot():
        if key.startswith(prefix):
            _abort(s3, bucket, key, upload_id)
            aborted += 1
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while listing.allowed:
        try:
            resp = s3_call("ListMultipartUploads", s3.list_multipart_uploads, **kwargs)
        except SinkError as e:
            if e.fields.get("code") != "AccessDenied":
                raise
            listing.allowed = False  # expected for the task role: the lifecycle rule reaps
            break
        for up in resp.get("Uploads", []):
            if up["Key"].startswith(prefix):
                _abort(s3, bucket, up["Key"], up["UploadId"])
                aborted += 1
        if not resp.get("IsTruncated"):
            break
        kwargs["KeyMarker"] = resp.get("NextKeyMarker")
        kwargs["UploadIdMarker"] = resp.get("NextUploadIdMarker")
    return aborted


def _sweep_once(s3: Any, bucket: str, prefix: str, listing: _Listing) -> tuple[int, int]:
    """Abort multipart uploads and delete objects under ``prefix`` (manifest first)."""
    aborted = _abort_uploads(s3, bucket, prefix, listing)

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
    listing = _Listing()
    while True:
        attempt += 1
        try:
            a, d = _sweep_once(s3, bucket, prefix, listing)
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
            listed_uploads=listing.allowed,
            deleted_objects=deleted,
            attempts=attempt,
            seconds=round(time.monotonic() - started, 3),
        )
        return
