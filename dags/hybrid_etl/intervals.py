"""The data interval an incremental extract's run reads, rendered into the ETL's command.

An incremental DAG's timetable is ``CronDataIntervalTimetable`` in UTC: each scheduled run
covers ``[previous tick, tick)`` and starts once it is over. What a run extracts:

- scheduled, backfill, and manual runs given a logical date: the data interval Airflow stored
  on the run (``dag_run.data_interval_start`` / ``_end``);
- a manual run triggered **without** a logical date: Airflow 3.3 stores no data interval (and
  leaves ``data_interval_start`` out of the template context). It extracts the interval Airflow
  itself gives a manual run (``infer_manual_data_interval``) at the moment it was triggered
  (``dag_run.run_after``): the latest complete interval ending at or before that moment, i.e.
  the latest scheduled interval again, into that interval's partition.

Never the wall clock at render time: every retry of a run renders the same interval and the same
run id (the interval's start), so it rewrites the same ``run=<run id>`` partition, and a backfill
or a manual rerun of an interval writes the partition its scheduled run wrote.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from croniter import croniter

UTC = datetime.UTC
#: What the ETL's ``--param`` gets: a DATETIME literal MySQL compares with the column (UTC).
SQL_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Airflow's ``ts_nodash``: S3-key-safe, sorts by time.
RUN_ID_FORMAT = "%Y%m%dT%H%M%S"


@dataclass(frozen=True)
class RunInterval:
    start: datetime.datetime  # UTC
    end: datetime.datetime  # UTC, exclusive

    @property
    def run_id(self) -> str:
        return self.start.strftime(RUN_ID_FORMAT)

    @property
    def start_sql(self) -> str:
        return self.start.strftime(SQL_FORMAT)

    @property
    def end_sql(self) -> str:
        return self.end.strftime(SQL_FORMAT)


def _utc(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None:  # Airflow stores UTC; a naive value is UTC too
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def latest_complete_interval(expression: str, moment: datetime.datetime) -> RunInterval:
    """The last whole interval of the cron ``expression`` (UTC) ending at or before ``moment``.

    The same as Airflow's ``CronDataIntervalTimetable.infer_manual_data_interval(run_after=
    moment)`` (tests compare them): end = the tick at or before ``moment``, start = the one before.
    """
    naive = _utc(moment).replace(tzinfo=None)
    end = croniter(expression, naive).get_prev(datetime.datetime)
    if croniter(expression, end).get_next(datetime.datetime) == naive:  # moment is a tick
        end = naive
    start = croniter(expression, end).get_prev(datetime.datetime)
    return RunInterval(start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


def run_interval(dag_run: Any, *, expression: str) -> RunInterval:
    """The interval a run extracts (template macro ``extract_interval(dag_run)``)."""
    start, end = dag_run.data_interval_start, dag_run.data_interval_end
    if start is None or end is None:  # a manual run triggered without a logical date
        return latest_complete_interval(expression, dag_run.run_after)
    return RunInterval(_utc(start), _utc(end))
