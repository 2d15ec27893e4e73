"""DAG parse time of dags/ (hybrid_sites.py and hybrid_sites_problems.py) for sites manifests
of 10, 100 and 500 sites, and its ratio to a baseline measured in the same run.

Airflow and the ECS operator are imported first (not timed: every DAG file pays for them once per
parsing process). Each timed run parses a fresh copy of dags/ with a DagBag, as the DAG processor
does: both files, each reading and checking the manifest (and the network file) and building the
DAGs, then DagBag validation. The baseline is one plain DAG file that builds the same DAGs and
tasks from literals (no manifest, no checks, one file): the ratio is what reading the manifest,
checking it and reporting problems from a second file cost on top of the DAGs themselves.
Goal: 500 sites in <= 1 s per file (the DAG processor parses each file in its own process;
MWAA's default dag_file_processor_timeout is 50 s, the import timeout 30 s).
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
    DAGs), its ``orders`` incremental like prod's; the others are on-prem EXTERNAL sites, every
    other one regulated, with two full extracts on one schedule (one DAG)."""
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
        "secretId": f"hybrid/bench/{name}/db",
        "lakePrefix": name,
        "glueDatabase": f"hybrid_bench_{name.replace('-', '_')}",
        "placementConstraints": []
        if cloud
        else [{"type": "memberOf", "expression": f"attribute:site == {name}"}],
        "extracts": [
            extract(name, "customers", schedules[0], incremental=False),
            extract(name, "orders", schedules[1], incremental=cloud),
        ],
    }


def extract(site_name: str, name: str, schedule: str, *, incremental: bool) -> dict[str, Any]:
    query = f"SELECT id, name, created_at FROM {name}"
    if incremental:
        query += " WHERE created_at >= :interval_start AND created_at < :interval_end"
    return {
        "name": name,
        "query": query,
        "schedule": schedule,
        "keyPrefix": f"{site_name}/{name}",
        "incremental": {"column": "created_at", "start": "2026-11-01"} if incremental else None,
    }


def manifest(sites: int) -> dict[str, Any]:
    return {
        "version": 2,
        "environment": "bench",
        "region": "eu-central-1",
        "cluster": "hybrid-bench-shared",
        "dags": {"pausedOnCreation": False},
        "sites": [site(i) for i in range(sites)],
    }


NETWORK = {
    "version": 1,
    "awsvpcConfiguration": {
        "subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        "securityGroups": ["sg-0123456789abcdef0"],
        "assignPublicIp": "DISABLED",
    },
}

#: The baseline DAG file: the same DAGs and tasks, from a literal list, in one file.
BASELINE = """
import json
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.sdk import DAG, CronDataIntervalTimetable

for spec in json.loads(Path(__file__).with_name("specs.json").read_text()):
    schedule = spec["schedule"]
    if spec["catchup"]:  # incremental: data intervals in UTC
        schedule = CronDataIntervalTimetable(schedule, timezone="UTC")
    dag = DAG(dag_id=spec["dag_id"], schedule=schedule, catchup=spec["catchup"],
              start_date=pendulum.parse(spec["start"]), tags=spec["tags"],
              default_args={"retries": 3, "execution_timeout": timedelta(hours=2)})
    for task in spec["tasks"]:
        EcsRunTaskOperator(dag=dag, **task)
    globals()[spec["dag_id"]] = dag
"""


def baseline_specs(bag: Any) -> list[dict[str, Any]]:
    """What the baseline file builds: the DAGs the real files built, as literals."""
    specs = []
    for dag in bag.dags.values():
        tasks = [
            {
                "task_id": t.task_id,
                "region_name": t.region_name,
                "cluster": t.cluster,
                "task_definition": t.task_definition,
                "launch_type": t.launch_type,
                "placement_constraints": t.placement_constraints,
                "overrides": t.overrides,
                "network_configuration": t.network_configuration,
                "awslogs_group": t.awslogs_group,
                "awslogs_stream_prefix": t.awslogs_stream_prefix,
            }
            for t in dag.tasks
        ]
        timetable = getattr(dag.timetable, "expression", None)
        specs.append(
            {
                "dag_id": dag.dag_id,
                "schedule": timetable if dag.catchup else dag.schedule,
                "catchup": dag.catchup,
                "start": dag.start_date.isoformat(),
                "tags": sorted(dag.tags),
                "tasks": tasks,
            }
        )
    return specs


def parse(folder: Path, file: str | None = None) -> tuple[float, Any]:
    """A DagBag of ``folder`` (or one file of it) with fresh hybrid_etl modules."""
    from airflow.models import DagBag

    for name in [m for m in sys.modules if m == "hybrid_etl" or m.startswith("hybrid_etl.")]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    try:
        started = time.perf_counter()
        bag = DagBag(dag_folder=str(folder / file) if file else str(folder))
        return time.perf_counter() - started, bag
    finally:
        sys.path.remove(str(folder))


def check_schema(doc: dict[str, Any]) -> None:
    try:
        from jsonschema import Draft202012Validator
    except ImportError:  # optional: the Airflow venv has it
        return
    for name, instance in (("sites-manifest", doc), ("sites-network", NETWORK)):
        schema = json.loads((ROOT / "docs" / f"{name}.schema.json").read_text())
        errors = list(Draft202012Validator(schema).iter_errors(instance))
        if errors:
            raise SystemExit(f"synthetic {name} is not valid: {errors[0].message}")


def main() -> int:
    # not timed: what every parsing process imports anyway
    from airflow.models import DagBag  # noqa: F401
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator  # noqa: F401

    logging.disable(logging.WARNING)
    results = []
    with tempfile.TemporaryDirectory(prefix="dag-parse-") as tmp:
        for size in SIZES:
            doc = manifest(size)
            check_schema(doc)
            times, base_times, file_times, dags, tasks = [], [], [], 0, 0
            for run in range(REPEATS):
                folder = Path(tmp) / f"dags-{size}-{run}"  # fresh path: a fresh module each run
                shutil.copytree(ROOT / "dags", folder, ignore=shutil.ignore_patterns("*.json"))
                (folder / "sites-manifest.json").write_text(json.dumps(doc))
                (folder / "sites-network.json").write_text(json.dumps(NETWORK))
                elapsed, bag = parse(folder)
                times.append(elapsed)
                if bag.import_errors:
                    raise SystemExit(f"import errors: {bag.import_errors}")
                dags, tasks = bag.size(), sum(len(d.tasks) for d in bag.dags.values())
                file_times.append(
                    max(
                        parse(folder, f)[0] for f in ("hybrid_sites.py", "hybrid_sites_problems.py")
                    )
                )
                base = Path(tmp) / f"base-{size}-{run}"
                base.mkdir()
                (base / "specs.json").write_text(json.dumps(baseline_specs(bag)))
                (base / "etl_baseline.py").write_text(BASELINE)
                elapsed, base_bag = parse(base)
                base_times.append(elapsed)
                if base_bag.import_errors or base_bag.size() != dags:
                    raise SystemExit(f"baseline differs: {base_bag.import_errors}")
            median, base_median = statistics.median(times), statistics.median(base_times)
            per_file = statistics.median(file_times)
            results.append((size, per_file))
            print(
                f"{size:4d} sites: {dags:4d} DAGs {tasks:5d} tasks  median {median:.3f} s "
                f"(min {min(times):.3f}, max {max(times):.3f}, {REPEATS} runs); baseline "
                f"{base_median:.3f} s; ratio {median / base_median:.2f}; slower file {per_file:.3f} s"
            )
    shutil.rmtree(_HOME, ignore_errors=True)
    size, median = results[-1]
    verdict = "ok" if median <= GOAL_S else "OVER GOAL"
    print(f"dag_parse: {size} sites {median:.2f} s per file (goal <= {GOAL_S:g} s) {verdict}")
    return 0 if median <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
