"""The Glue Data Catalog: the extract's table and the run's partition, so Athena, Spark and
Glue users can query the lake.

What the run does with ``--glue-database`` (nothing happens without it):

- at start, before the run prefix is cleared: check the database (``GetDatabase``) and read the
  table (``GetTable``); a rerun of a run id drops that run's partition first, so the catalog
  never points at files being replaced;
- before the first row: compare the result's columns with the table and refuse an incompatible
  change at once (nothing is written);
- after ``_manifest.json``: create the table if missing, add new columns if the result grew,
  refuse an incompatible change (a column removed or renamed, a type changed) leaving the table
  as it was, then add the run's partition (replacing one of the same run id).

Every failure here is a ``CatalogError`` (exit 5); the runner then removes the run's partition
(if it was added) and its files: a failed run never appears, in the catalog or in S3.

The table is partitioned by ``run`` (string), Parquet SerDe, at ``s3://<bucket>/<key-prefix>/``;
each partition is ``run=<run id>/`` and carries its own columns (the run's schema). Athena
ignores files whose names start with ``_``, so ``_manifest.json`` beside the parts is not read.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from etl import __version__
from etl.columns import Column, arrow_type, glue_type
from etl.config import Config
from etl.errors import EXIT_CATALOG, EtlError
from etl.log import Log

T = TypeVar("T")

PARTITION_KEY = {"Name": "run", "Type": "string", "Comment": "the ETL's run id"}
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
# What GetTable returns that UpdateTable's TableInput also takes (the rest is read-only).
_TABLE_INPUT_KEYS = (
    "Name",
    "Description",
    "Owner",
    "LastAccessTime",
    "LastAnalyzedTime",
    "Retention",
    "StorageDescriptor",
    "PartitionKeys",
    "ViewOriginalText",
    "ViewExpandedText",
    "TableType",
    "Parameters",
    "TargetTable",
)
_UNITS = {"ms": "milliseconds", "us": "microseconds"}
_MAX_NAME = 255


class CatalogError(EtlError):
    """Glue refused or failed: incompatible schema change, missing database, access denied,
    Glue unreachable (exit 5). The table is left as it was; the run leaves nothing."""

    exit_code = EXIT_CATALOG
    kind = "catalog"


@dataclass(frozen=True)
class GlueColumn:
    name: str  # lowercase: Glue and Athena names are
    type: str
    comment: str  # the source type, e.g. DECIMAL(12,2)

    def as_glue(self) -> dict[str, str]:
        return {"Name": self.name, "Type": self.type, "Comment": self.comment[:255]}


def _comment(source_type: str, arrow: str) -> str:
    if arrow.startswith("duration["):
        return f"{source_type} as a count of {_UNITS[arrow[9:-1]]}"
    return source_type


def _checked(columns: Iterable[tuple[str, str | None, str, str]]) -> list[GlueColumn]:
    """(name, glue type or None, source type, arrow type) -> Glue columns, or CatalogError."""
    out: list[GlueColumn] = []
    seen: dict[str, str] = {}
    problems = []
    for name, typ, source, arrow in columns:
        lower = name.lower()
        if typ is None:
            why = (
                "the NULL type (a bare NULL: CAST it, e.g. CAST(NULL AS CHAR))"
                if arrow == "null"
                else f"{arrow}, which Athena cannot read (it stops at 38 digits: keep "
                "--wide-decimals string with the catalog)"
            )
            problems.append(f"column {name!r} ({source}) is {why}")
        elif not lower or len(lower) > _MAX_NAME or "\n" in lower or "\r" in lower:
            problems.append(f"column name {name!r} is not a Glue column name (1-255 characters)")
        elif lower in seen:
            problems.append(
                f"columns {seen[lower]!r} and {name!r} are the same Glue column (names are "
                "case-insensitive there): alias one of them"
            )
        elif lower == PARTITION_KEY["Name"]:
            problems.append(f"column {name!r} clashes with the partition key 'run': alias it")
        else:
            seen[lower] = name
            out.append(GlueColumn(lower, typ, _comment(source, arrow)))
    if problems:
        raise CatalogError("the result cannot be a Glue table: " + "; ".join(problems))
    return out


def columns_of_result(columns: Sequence[Column], wide_decimal: str) -> list[GlueColumn]:
    """Glue columns of a result set, from the server's column metadata (before any row)."""
    rows = []
    for c in columns:
        spec = arrow_type(c, wide_decimal=wide_decimal)
        rows.append((c.name, glue_type(spec), c.source_type, spec.name))
    return _checked(rows)


def columns_of_manifest(entries: Sequence[dict[str, Any]]) -> list[GlueColumn]:
    """Glue columns of a finished run, from its manifest's column entries."""
    return _checked(
        (e["name"], e.get("glue_type"), e["source_type"], e["arrow_type"]) for e in entries
    )


def _is_ours(table: dict[str, Any]) -> str | None:
    """Why an existing table is not one this ETL can extend (None: it is)."""
    keys = [(k.get("Name"), k.get("Type")) for k in table.get("PartitionKeys") or []]
    serde = ((table.get("StorageDescriptor") or {}).get("SerdeInfo") or {}).get(
        "SerializationLibrary"
    )
    if keys != [("run", "string")]:
        return f"it is partitioned by {keys or 'nothing'}, not run (string)"
    if serde != PARQUET_SERDE:
        return f"its SerDe is {serde!r}, not Parquet's"
    return None


def plan_columns(table: dict[str, Any], columns: Sequence[GlueColumn]) -> list[GlueColumn]:
    """The columns to add to ``table`` for a run of ``columns`` (often none). Raises
    ``CatalogError`` for an incompatible change: a column of the table missing from the run
    (removed or renamed) or of another type. Pure: nothing is changed here."""
    name = f"{table.get('DatabaseName', '?')}.{table.get('Name', '?')}"
    not_ours = _is_ours(table)
    if not_ours:
        raise CatalogError(
            f"Glue table {name} exists but is not an ETL table: {not_ours}. The table is "
            "left as it was; drop it or name the extract differently."
        )
    existing = {
        c["Name"].lower(): c["Type"]
        for c in (table.get("StorageDescriptor") or {}).get("Columns") or []
    }
    new = {c.name: c for c in columns}
    problems = []
    for col, typ in existing.items():
        if col not in new:
            problems.append(
                f"column {col!r} ({typ}) is missing from the result (removed or renamed)"
            )
        elif new[col].type != typ:
            problems.append(f"column {col!r} changed type from {typ} to {new[col].type}")
    if problems:
        raise CatalogError(
            f"incompatible schema change for Glue table {name}: "
            + "; ".join(problems)
            + ". The table is left as it was; only new columns can be added. Keep the "
            "column (alias it back, CAST it to the old type) or replace the table."
        )
    return [c for c in columns if c.name not in existing]


class Catalog:
    """The Glue side of one run. ``open`` at start, ``precheck`` before rows, ``publish``
    after the manifest, ``withdraw`` when the run fails.

    Each step makes its own Glue client with ``connect`` and drops it: Glue's service model
    costs ~10 MB of Python objects, which should not sit in memory while rows stream."""

    def __init__(self, cfg: Config, log: Log, connect: Callable[..., Any]) -> None:
        assert cfg.glue_database is not None
        self.cfg = cfg
        self.log = log
        self.connect = connect
        self.glue: Any = None
        self.database = cfg.glue_database
        self.table_name = cfg.table_name
        self.table: dict[str, Any] | None = None  # as read at start
        self.partition_written = False  # CreatePartition may have happened: withdraw it

    # -- calls ------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., T], **kwargs: Any) -> T:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as e:
            err = e.response.get("Error", {})
            code = err.get("Code", "ClientError")
            raise CatalogError(
                f"Glue {what} on {self.database}.{self.table_name} failed: {code}: "
                f"{err.get('Message', '')}".rstrip(": "),
                code=code,
            ) from None
        except BotoCoreError as e:
            raise CatalogError(f"Glue {what} failed: {type(e).__name__}: {e}") from None

    def _get_table(self) -> dict[str, Any] | None:
        try:
            resp = self._call(
                "GetTable", self.glue.get_table, DatabaseName=self.database, Name=self.table_name
            )
        except CatalogError as e:
            if e.fields.get("code") == "EntityNotFoundException":
                return None
            raise
        return dict(resp["Table"])

    # -- the run's steps --------------------------------------------------------------------

    def _client(self, **options: Any) -> Any:
        self.glue = self.connect(**options)
        return self.glue

    def _done(self) -> None:
        self.glue = None  # the next step makes its own (see the class docstring)
        gc.collect()

    def open(self) -> None:
        """Fail fast (before any row is read) if the database is missing or out of reach."""
        started = time.monotonic()
        glue = self._client()
        try:
            self._call("GetDatabase", glue.get_database, Name=self.database)
        except CatalogError as e:
            if e.fields.get("code") == "EntityNotFoundException":
                raise CatalogError(
                    f"Glue database {self.database!r} does not exist in "
                    f"{glue.meta.region_name} (the stack creates one per site)"
                ) from None
            raise
        self.table = self._get_table()
        self.log.info(
            "catalog",
            step="open",
            database=self.database,
            table=self.table_name,
            table_exists=self.table is not None,
            seconds=round(time.monotonic() - started, 3),
        )
        self._done()

    def precheck(self, columns: Sequence[Column]) -> None:
        """Refuse, before the first row, a result the table cannot take (no Glue call)."""
        glue_columns = columns_of_result(columns, self.cfg.wide_decimals)
        if self.table is not None:
            plan_columns(self.table, glue_columns)

    def forget_run(self) -> None:
        """A rerun: drop the run's partition before its files are replaced."""
        if self.table is not None:
            self._client()
            self._delete_partition()
            self._done()

    def _delete_partition(self) -> bool:
        try:
            self._call(
                "DeletePartition",
                self.glue.delete_partition,
                DatabaseName=self.database,
                TableName=self.table_name,
                PartitionValues=[self.cfg.run_id],
            )
        except CatalogError as e:
            if e.fields.get("code") == "EntityNotFoundException":
                return False
            raise
        return True

    def publish(self, manifest: dict[str, Any], manifest_key: str) -> None:
        """Create or widen the table, then add (or replace) the run's partition."""
        started = time.monotonic()
        columns = columns_of_manifest(manifest["columns"])
        self._client()
        action = self._ensure_table(columns)
        self._put_partition(columns, manifest, manifest_key)
        self.log.info(
            "catalog",
            step="publish",
            database=self.database,
            table=self.table_name,
            table_change=action,
            partition=f"run={self.cfg.run_id}",
            seconds=round(time.monotonic() - started, 3),
        )

    def withdraw(self) -> None:
        """The failed run's partition, if it may exist, goes (before its files do). Raises
        ``CatalogError`` when Glue cannot be reached."""
        if not self.partition_written:
            return
        # Short timeouts and few attempts: the stop budget must cover the files' cleanup too.
        self._client(timeout=min(self.cfg.tuning.s3_timeout, 5.0), attempts=2)
        removed = self._delete_partition()
        self.partition_written = False
        self.log.info(
            "catalog", step="withdraw", partition=f"run={self.cfg.run_id}", removed=removed
        )

    # -- table and partition ----------------------------------------------------------------

    def _location(self, prefix: str) -> str:
        return f"s3://{self.cfg.bucket}/{prefix}"

    def _storage(self, columns: Sequence[GlueColumn], prefix: str) -> dict[str, Any]:
        return {
            "Columns": [c.as_glue() for c in columns],
            "Location": self._location(prefix),
            "InputFormat": PARQUET_INPUT,
            "OutputFormat": PARQUET_OUTPUT,
            "Compressed": self.cfg.tuning.parquet_compression != "none",
            "SerdeInfo": {
                "SerializationLibrary": PARQUET_SERDE,
                "Parameters": {"serialization.format": "1"},
            },
        }

    def _ensure_table(self, columns: Sequence[GlueColumn]) -> str:
        """``created``, ``added <names>`` or ``none``. Retries a race with another run of the
        same extract (a table created or updated meanwhile) a few times."""
        for attempt in range(1, 4):
            table = self._get_table()
            if table is None:
                try:
                    self._call(
                        "CreateTable",
                        self.glue.create_table,
                        DatabaseName=self.database,
                        TableInput=self._new_table(columns),
                    )
                    return "created"
                except CatalogError as e:
                    if e.fields.get("code") == "AlreadyExistsException" and attempt < 3:
                        continue
                    raise
            added = plan_columns(table, columns)
            if not added:
                return "none"
            table_input = {k: table[k] for k in _TABLE_INPUT_KEYS if k in table}
            storage = dict(table_input["StorageDescriptor"])
            storage["Columns"] = [*storage.get("Columns", []), *(c.as_glue() for c in added)]
            table_input["StorageDescriptor"] = storage
            extra = {"VersionId": table["VersionId"]} if table.get("VersionId") else {}
            try:
                self._call(
                    "UpdateTable",
                    self.glue.update_table,
                    DatabaseName=self.database,
                    TableInput=table_input,
                    **extra,
                )
                return "added " + ", ".join(c.name for c in added)
            except CatalogError as e:
                if e.fields.get("code") == "ConcurrentModificationException" and attempt < 3:
                    continue
                raise
        raise AssertionError("unreachable")

    def _new_table(self, columns: Sequence[GlueColumn]) -> dict[str, Any]:
        return {
            "Name": self.table_name,
            "Description": (
                f"Extract {self.cfg.key_prefix} written by the hybrid-airflow ETL: one "
                "partition per run (run=<run id>), each complete when added."
            ),
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "classification": "parquet",
                "EXTERNAL": "TRUE",
                "created_by": f"hybrid-airflow-etl {__version__}",
            },
            "PartitionKeys": [PARTITION_KEY],
            "StorageDescriptor": self._storage(columns, self.cfg.key_prefix + "/"),
        }

    def _put_partition(
        self, columns: Sequence[GlueColumn], manifest: dict[str, Any], manifest_key: str
    ) -> None:
        partition = {
            "Values": [self.cfg.run_id],
            "StorageDescriptor": self._storage(columns, self.cfg.run_prefix),
            "Parameters": {
                "rows": str(manifest["rows"]),
                "manifest": self._location(manifest_key),
                "etl_version": __version__,
            },
        }
        self.partition_written = True
        try:
            self._call(
                "CreatePartition",
                self.glue.create_partition,
                DatabaseName=self.database,
                TableName=self.table_name,
                PartitionInput=partition,
            )
        except CatalogError as e:
            if e.fields.get("code") != "AlreadyExistsException":
                raise
            # The same run id registered meanwhile (a concurrent run of it): ours replaces it.
            self._delete_partition()
            self._call(
                "CreatePartition",
                self.glue.create_partition,
                DatabaseName=self.database,
                TableName=self.table_name,
                PartitionInput=partition,
            )
