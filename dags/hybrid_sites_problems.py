"""Airflow DAG file that holds no DAG: it reports what is wrong with the sites manifest.

An invalid site, a FARGATE site without its network configuration, or an unusable manifest
becomes the import error of this file, naming the site and the field, while the valid sites'
DAGs from ``hybrid_sites.py`` stay active and scheduled.

How: a placeholder DAG whose ``validate()`` raises. The DAG processor validates every DAG it
finds before keeping it and records the exception, without a traceback, as this file's import
error; the placeholder itself is never kept. When nothing is wrong this file defines no DAG.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import DAG
from hybrid_etl.dag_factory import START_DATE, build_sites


class InvalidSitesError(ValueError):
    """The sites manifest, or some of its sites, cannot be turned into DAGs."""


class _Problems(DAG):
    report: str = ""

    def validate(self) -> None:
        raise InvalidSitesError(self.report)


if (_report := build_sites(Path(__file__).parent).report()) is not None:
    etl__manifest_problems = _Problems(
        dag_id="etl__manifest_problems", schedule=None, start_date=START_DATE
    )
    etl__manifest_problems.report = _report
