"""Extract schedules checked as Airflow 3.3 checks them, so a schedule that passes here loads.

Airflow's task SDK (`airflow.sdk.definitions.dag._create_timetable`) turns a DAG's `schedule`
into a timetable: None -> no schedule, "@once" and "@continuous" -> their own timetables, any
other string -> a cron timetable whose `validate()` resolves Airflow's presets
(`CRON_PRESETS`) and then builds `croniter(expression)`; a `CroniterBadCronError` there is the
DAG's import error. We apply the same steps with the same library (croniter, which Airflow
3.3 requires), and refuse two things Airflow would accept but no extract wants: a sixth or
seventh field (croniter reads it as seconds or years: a run every second) and an expression
that never fires (like "0 0 31 2 *").
"""

from __future__ import annotations

import datetime as dt

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

# airflow/sdk/definitions/timetables/_cron.py (kept in sync with airflow.utils.dates there).
CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
# Timetables of their own in `_create_timetable`, never handed to croniter.
NON_CRON = ("@once", "@continuous")
# The DAGs' start_date (dags/hybrid_sites.py): a schedule must fire at least once after it.
FIRST_RUN_AFTER = dt.datetime(2025, 1, 1)


class ScheduleError(ValueError):
    """Airflow would refuse the schedule (or it would never run)."""


def check_schedule(schedule: str) -> str:
    """Return the schedule unchanged, or raise ScheduleError saying why Airflow refuses it."""
    if schedule in NON_CRON:
        return schedule
    expression = CRON_PRESETS.get(schedule, schedule)
    try:
        cron = croniter(expression, FIRST_RUN_AFTER)
    except CroniterBadCronError as error:
        raise ScheduleError(
            f"{schedule!r} is not a cron expression Airflow accepts ({error}); use five fields "
            "'minute hour day-of-month month day-of-week' or a preset such as @daily"
        ) from None
    fields = len(cron.expanded)
    if fields != 5:
        raise ScheduleError(
            f"{schedule!r} has {fields} fields: Airflow would read the extra ones as "
            f"{'seconds' if fields == 6 else 'seconds and years'}; use the five cron fields"
        )
    try:
        cron.get_next(dt.datetime)
    except CroniterBadDateError:
        raise ScheduleError(f"{schedule!r} never fires (no such date)") from None
    return schedule
