"""Airflow DAG file: the ETL DAGs of every valid site in the sites manifest.

The manifest (``sites-manifest.json`` beside this file, or ``$HYBRID_SITES_MANIFEST``) is the
only input: add a site or an extract to ``stacks/Pulumi.<stack>.yaml``, deploy, and its DAG
appears. This file never fails to import because of the manifest: an invalid site (or an
unusable manifest) is reported by ``hybrid_sites_problems.py`` instead, because the DAG
processor marks every DAG of a file with an import error stale and schedules none of them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hybrid_etl.dag_factory import build_sites

_build = build_sites(Path(__file__).parent)
for _dag in _build.dags:
    globals()[_dag.dag_id] = _dag
if (_report := _build.report()) is not None:
    logging.getLogger(__name__).error(
        "%s (see the import error of hybrid_sites_problems.py)", _report
    )
