"""A local ECS for the Airflow end-to-end suite: moto's server plus a stand-in ECS agent.

moto records RunTask but has no agent: its tasks advance one state per DescribeTasks and its
containers stay PENDING. The suite switches that progression off and lets
:class:`StandInEcsAgent` play the agent on moto's in-process backend instead: each new task goes
RUNNING, its container writes log lines to CloudWatch Logs (the stream the awslogs driver would
use), then the task goes STOPPED with the exit code its :class:`Outcome` says, unless someone
(StopTask, ``on_kill``) stops it first. ECS Anywhere details (FACTS.md): EXTERNAL task
definitions are registered as EC2 + bridge, and each EXTERNAL cluster gets a container instance
backed by a moto EC2 instance carrying the ``site`` attribute.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.ecs.models import ecs_backends
from moto.moto_api import state_manager
from moto.server import ThreadedMotoServer

ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Outcome:
    """What the container of the next task of a family does."""

    exit_code: int = 0
    run_seconds: float = 0.5
    hold: bool = False  # stay RUNNING until stopped by StopTask or release()


@dataclass
class SeenTask:
    """One task RunTask created, as the agent saw it."""

    arn: str
    region: str
    cluster: str
    family: str
    launch_type: str
    started_by: str
    command: list[str]
    network: dict[str, Any] | None
    outcome: Outcome
    finish_at: float  # monotonic clock; ignored while held
    final_status: str | None = None
    exit_code: int | None = None
    stopped_reason: str = ""
    log_lines: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.command[self.command.index("--run-id") + 1]


class LocalEcs:
    """moto on a free port, with the clusters, task definitions and hosts of a manifest."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # the agent decides when a task moves; moto must not advance it on DescribeTasks
        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "manual", "times": 10**9}
        )

    def client(self, service: str, region: str) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        self._server.stop()

    def subnet(self, region: str) -> tuple[str, str]:
        """A VPC subnet and security group in moto, for the FARGATE network file."""
        ec2 = self.client("ec2", region)
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # for the ENI
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="etl", Description="etl", VpcId=vpc)
        return subnet, group["GroupId"]

    def add_site(self, site: dict[str, Any]) -> None:
        """What the stack and an ECS Anywhere host put in place for one site."""
        region = site["region"]
        ecs = self.client("ecs", region)
        ecs.create_cluster(clusterName=site["cluster"])
        fargate = site["launchType"] == "FARGATE"
        ecs.register_task_definition(
            family=site["taskDefinitionFamily"],
            requiresCompatibilities=["FARGATE" if fargate else "EC2"],
            networkMode="awsvpc" if fargate else "bridge",
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": site["containerName"], "image": "etl:test", "memory": 512}
            ],
        )
        logs = self.client("logs", site["logs"]["region"])
        if not logs.describe_log_groups(logGroupNamePrefix=site["logs"]["group"])["logGroups"]:
            logs.create_log_group(logGroupName=site["logs"]["group"])
        if not fargate:
            ec2 = self.client("ec2", region)
            image = ec2.describe_images()["Images"][0]["ImageId"]
            instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
            ecs.register_container_instance(
                cluster=site["cluster"],
                instanceIdentityDocument=json.dumps(
                    {"instanceId": instance["InstanceId"], "region": region}
                ),
                attributes=[{"name": "site", "value": site["name"]}],
            )


class StandInEcsAgent:
    """Moves moto's tasks through RUNNING to STOPPED and writes their container's log lines."""

    def __init__(self, ecs: LocalEcs, sites: list[dict[str, Any]]) -> None:
        self._ecs = ecs
        self._sites = {site["taskDefinitionFamily"]: site for site in sites}
        self._plans: dict[str, deque[Outcome]] = defaultdict(deque)
        self._released: dict[str, int] = {}
        self._lock = threading.Lock()
        self.tasks: dict[str, SeenTask] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stand-in-ecs-agent", daemon=True)
        self._thread.start()

    # --- what a test says and reads -------------------------------------------------------

    def plan(self, family: str, *outcomes: Outcome) -> None:
        """The next tasks of ``family`` do this, in order (then: exit 0 after 0.5 s)."""
        with self._lock:
            self._plans[family].extend(outcomes)

    def release(self, arn: str, exit_code: int = 0) -> None:
        """Let a held task finish with ``exit_code``."""
        with self._lock:
            self._released[arn] = exit_code

    def runs_of(self, family: str) -> list[SeenTask]:
        with self._lock:
            return [t for t in self.tasks.values() if t.family == family]

    def wait_for(self, predicate: Any, timeout: float = 60.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = next((t for t in self.tasks.values() if predicate(t)), None)
            if found is not None:
                return found
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout} s waiting for an ECS task {what}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    # --- the agent ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            for region, backend in list(ecs_backends[ACCOUNT].items()):
                for cluster, tasks in list(backend.tasks.items()):
                    for arn, task in list(tasks.items()):
                        self._step(region, cluster, arn, task)
            time.sleep(0.05)

    def _step(self, region: str, cluster: str, arn: str, task: Any) -> None:
        with self._lock:
            seen = self.tasks.get(arn)
        if seen is None:
            seen = self._start(region, cluster, arn, task)
        if seen.final_status is not None:
            return
        if task.desired_status == "STOPPED":  # StopTask: the agent kills the container
            self._finish(seen, task, 137, task.stopped_reason or "stopped")
            return
        with self._lock:
            released = self._released.pop(arn, None)
        if released is not None:
            self._finish(seen, task, released, "Essential container in task exited")
        elif not seen.outcome.hold and time.monotonic() >= seen.finish_at:
            self._finish(seen, task, seen.outcome.exit_code, "Essential container in task exited")

    def _start(self, region: str, cluster: str, arn: str, task: Any) -> SeenTask:
        family = task.task_definition_arn.rsplit("/", 1)[1].rsplit(":", 1)[0]
        (override,) = task.overrides.get("containerOverrides", [{}])
        with self._lock:
            plan = self._plans[family]
            outcome = plan.popleft() if plan else Outcome()
        seen = SeenTask(
            arn=arn,
            region=region,
            cluster=cluster,
            family=family,
            launch_type=task.launch_type,
            started_by=task.started_by,
            command=list(override.get("command", [])),
            network=getattr(task, "network_configuration", None),
            outcome=outcome,
            finish_at=time.monotonic() + outcome.run_seconds,
        )
        task.last_status = "RUNNING"
        for container in task.containers:
            container.last_status = "RUNNING"
        self._log(seen, f"etl: starting site run-id={seen.run_id}")
        with self._lock:
            self.tasks[arn] = seen
        return seen

    def _finish(self, seen: SeenTask, task: Any, exit_code: int, reason: str) -> None:
        self._log(seen, f"etl: finished run-id={seen.run_id} exit={exit_code}")
        for container in task.containers:
            container.last_status = "STOPPED"
            container.exitCode = exit_code
        task.stopped_reason = reason
        task.desired_status = "STOPPED"
        task.last_status = "STOPPED"
        with self._lock:
            seen.exit_code = exit_code
            seen.stopped_reason = reason
            seen.final_status = "STOPPED"

    def _log(self, seen: SeenTask, line: str) -> None:
        """Write one line where the awslogs driver would: <streamPrefix>/<task id>."""
        site = self._sites[seen.family]
        logs = self._ecs.client("logs", site["logs"]["region"])
        stream = f"{site['logs']['streamPrefix']}/{seen.arn.rsplit('/', 1)[1]}"
        if not seen.log_lines:
            logs.create_log_stream(logGroupName=site["logs"]["group"], logStreamName=stream)
        logs.put_log_events(
            logGroupName=site["logs"]["group"],
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": line}],
        )
        seen.log_lines.append(line)
