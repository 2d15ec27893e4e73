"""DAG parse time of dags/hybrid_sites.py for sites manifests of 10, 100 and 500 sites.

Airflow and the ECS operator are imported first (not timed: every DAG file pays for them once per
parsing process). Each timed run parses a fresh copy of dags/ with a DagBag, as the DAG processor
does: module import, manifest read and validation, DAG and task construction, DagBag validation.
Goal: 500 sites in <= 1 s (MWAA's default dag_file_processor_timeout is 50 s, the import timeout 30 s).
Run: .venv-airflow/bin/python benchmarks/dag_parse.py
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10, 100, 500)
REPEATS = 5
GOAL_S = 1.0

_HOME = tempfile.mkdtemp(prefix="airflow-bench-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"
os.environ.pop("HYBRID_SITES_MANIFEST", None)
warnings.filterwarnings("ignore")


def site(i: int) -> dict[str, Any]:
    """Every third site is a cloud (FARGATE) site with two differently scheduled extracts (two
    DAGs); the others are on-prem EXTERNAL sites, every other one regulated, with two extracts
    on one schedule (one DAG)."""
    name = f"site-{i:04d}"
    cloud = i % 3 == 0
    regulated = not cloud and i % 2 == 0
    region = "eu-west-1" if i % 5 == 0 else "eu-central-1"
    schedules = ["@daily", "15 2 * * *"] if cloud else ["0 3 * * *", "0 3 * * *"]
    return {
        "name": name,
        "kind": "cloud" if cloud else "onprem",
        "residency": "regulated" if regulated else "standard",
        "region": region,
        "cluster": f"hybrid-bench-{name}" if regulated else "hybrid-bench-shared",
        "launchType": "FARGATE" if cloud else "EXTERNAL",
        "taskDefinitionFamily": f"hybrid-bench-{name}-etl",
        "containerName": "etl",
        "logs": {"group": f"/hybrid/bench/{name}/etl", "region": region, "streamPrefix": "etl/etl"},
        "secretId": f"arn:aws:secretsmanager:{region}:123456789012:secret:hybrid/bench/{name}/db",
        "lakePrefix": name,
        "placementConstraints": []
        if cloud
        else [{"type": "memberOf", "expression": f"attribute:site == {name}"}],
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
                "securityGroups": ["sg-0123456789abcdef0"],
                "assignPublicIp": "DISABLED",
            }
        }
        if cloud
        else None,
        "extracts": [
            {
                "name": extract,
                "query": f"SELECT id, name, created_at FROM {extract}",
                "schedule": schedule,
                "keyPrefix": f"{name}/{extract}",
            }
            for extract, schedule in zip(("customers", "orders"), schedules, strict=True)
        ],
    }


def manifest(sites: int) -> dict[str, Any]:
    return {
        "version": 1,
        "environment": "bench",
        "region": "eu-central-1",
        "cluster": "hybrid-bench-shared",
        "lakeBucket": "hybrid-bench-lake",
        "sites": [site(i) for i in range(sites)],
    }


def check_schema(doc: dict[str, Any]) -> None:
    try:
        from jsonschema import Draft202012Validator
    except ImportError:  # optional: the Airflow venv has it
        return
    schema = json.loads((ROOT / "docs" / "sites-manifest.schema.json").read_text())
    errors = list(Draft202012Validator(schema).iter_errors(doc))
    if errors:
        raise SystemExit(f"synthetic manifest is not valid: {errors[0].message}")


def main() -> int:
    # not timed: what every parsing process imports anyway
    from airflow.models import DagBag
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator  # noqa: F401

    logging.disable(logging.WARNING)
    results = []
    with tempfile.TemporaryDirectory(prefix="dag-parse-") as tmp:
        for size in SIZES:
            doc = manifest(size)
            check_schema(doc)
            times, dags, tasks = [], 0, 0
            for run in range(REPEATS):
                folder = Path(tmp) / f"dags-{size}-{run}"  # fresh path: a fresh module each run
                shutil.copytree(ROOT / "dags", folder, ignore=shutil.ignore_patterns("*.json"))
                (folder / "sites-manifest.json").write_text(json.dumps(doc))
                started = time.perf_counter()
                bag = DagBag(dag_folder=str(folder))
                times.append(time.perf_counter() - started)
                if bag.import_errors:
                    raise SystemExit(f"import errors: {bag.import_errors}")
                dags, tasks = bag.size(), sum(len(d.tasks) for d in bag.dags.values())
            median = statistics.median(times)
            results.append((size, median))
            print(
                f"{size:4d} sites: {dags:4d} DAGs {tasks:5d} tasks  median {median:.3f} s "
                f"(min {min(times):.3f}, max {max(times):.3f}, {REPEATS} runs)"
            )
    shutil.rmtree(_HOME, ignore_errors=True)
    size, median = results[-1]
    verdict = "ok" if median <= GOAL_S else "OVER GOAL"
    print(f"dag_parse: {size} sites {median:.2f} s (goal <= {GOAL_S:g} s) {verdict}")
    return 0 if median <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
