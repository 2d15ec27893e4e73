"""The RunTask request a generated task sends, as moto's server records it and as sent.

Waiting, exit codes, logs, retries, SIGTERM and timeouts run through Airflow's own task runner
in test_airflow_e2e.py; this checks the request itself (moto keeps no placement constraints).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pendulum
import pytest
import requests
from moto.server import ThreadedMotoServer

from .conftest import MakeFolder, load_dagbag, site_of

REGION = "eu-central-1"
LOGICAL_DATE = pendulum.datetime(2030, 5, 17, 3, 0, tz="UTC")
RUN_ID = "20300517T030000"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point Airflow's aws_default connection and boto3 at the (reset) moto server."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    conn = {"conn_type": "aws", "extra": {"endpoint_url": moto_endpoint, "region_name": REGION}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return moto_endpoint


@pytest.fixture
def munich_task(make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]) -> Any:
    bag = load_dagbag(make_dags_folder(prod_manifest))
    assert bag.import_errors == {}
    return bag.dags["etl_munich"].tasks[0]


def _context(task: Any) -> dict[str, Any]:
    ti = mock.Mock(dag_id=task.dag_id, task_id=task.task_id, run_id="scheduled__x", map_index=-1)
    return {
        "logical_date": LOGICAL_DATE,
        "dag_run": mock.Mock(logical_date=LOGICAL_DATE, run_after=LOGICAL_DATE),
        "ti": ti,
        "task_instance": ti,
        "params": {},
    }


def _munich_ecs(endpoint: str, site: dict[str, Any]) -> Any:
    """moto ECS with munich's cluster, task definition and an ECS Anywhere-like instance.

    moto forces EXTERNAL task definitions to awsvpc and then fails RunTask, so the task
    definition is registered as EC2/bridge; RunTask itself is called with launchType EXTERNAL.
    """
    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=endpoint)
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
    ecs.create_cluster(clusterName=site["cluster"])
    ecs.register_task_definition(
        family=site["taskDefinitionFamily"],
        requiresCompatibilities=["EC2"],
        networkMode="bridge",
        containerDefinitions=[{"name": "etl", "image": "etl:test", "memory": 512}],
    )
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    ecs.register_container_instance(
        cluster=site["cluster"],
        instanceIdentityDocument=json.dumps(
            {"instanceId": instance["InstanceId"], "region": REGION}
        ),
        attributes=[{"name": "site", "value": site["name"]}],
    )
    return ecs


def test_run_task_against_moto(aws: str, munich_task: Any, prod_manifest: dict[str, Any]) -> None:
    site = site_of(prod_manifest, "munich")
    ecs = _munich_ecs(aws, site)
    task = munich_task
    context = _context(task)
    task.render_template_fields(context)
    task.wait_for_completion = False

    sent: list[dict[str, Any]] = []
    task.client.meta.events.register(
        "provide-client-params.ecs.RunTask", lambda params, **_: sent.append(dict(params))
    )
    task.execute(context)

    # what moto recorded for the task
    assert task.arn
    context["ti"].xcom_push.assert_called_once_with(key="ecs_task_arn", value=task.arn)
    (recorded,) = ecs.describe_tasks(cluster=site["cluster"], tasks=[task.arn])["tasks"]
    assert recorded["launchType"] == "EXTERNAL"
    assert recorded["clusterArn"].endswith(f":cluster/{site['cluster']}")
    assert recorded["taskDefinitionArn"].endswith(
        f":task-definition/{site['taskDefinitionFamily']}:1"
    )
    assert recorded["overrides"] == {
        "containerOverrides": [
            {
                "name": "etl",
                "command": [
                    "--query",
                    site["extracts"][0]["query"],
                    "--key-prefix",
                    "munich/patients",
                    "--run-id",
                    RUN_ID,
                ],
            }
        ]
    }
    assert recorded["containerInstanceArn"]  # placed on the site's registered instance
    # moto does not keep a task's placement constraints: check the RunTask request as sent
    (request,) = sent
    assert request["placementConstraints"] == [
        {"type": "memberOf", "expression": "attribute:site == munich"}
    ]
    assert request["launchType"] == "EXTERNAL"
    assert "networkConfiguration" not in request
    assert "capacityProviderStrategy" not in request
    assert len(request["startedBy"]) <= 36  # the reattach key, deterministic per task instance

    # reattach: a retry of the same task instance finds the running task instead of starting one
    first = task.arn
    task.arn = None
    task.execute(context)
    assert task.arn == first
    assert len(sent) == 1
