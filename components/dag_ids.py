"""The Airflow DAG ids a site's extracts become, by the rules of `dags/hybrid_sites.py`.

The DAG module ships alone to MWAA and imports nothing from here, so its two rules are
restated: one DAG `etl_<site>` when all of a site's extracts are full (not incremental) and share
one schedule, else one DAG `etl_<site>__<extract>` per extract (an incremental extract needs its
own start date and catch-up); `-` in a site name becomes `_`. Config validation uses them
to refuse two sites whose DAGs would collide (the second one would silently not load), and
`hybridctl plan --diff` to name the DAGs a change adds or removes.
"""

from __future__ import annotations

from collections.abc import Sequence


def dag_id(site: str, extract: str | None = None) -> str:
    base = f"etl_{site.replace('-', '_')}"
    return base if extract is None else f"{base}__{extract}"


def site_dag_ids(site: str, extracts: Sequence[tuple[str, str | None, bool]]) -> list[str]:
    """`extracts` as (name, schedule, incremental) triples, in the site's order."""
    if not extracts:
        return []
    if len({schedule for _, schedule, _ in extracts}) == 1 and not any(i for *_, i in extracts):
        return [dag_id(site)]
    return [dag_id(site, name) for name, *_ in extracts]
