"""A throwaway Airflow installation for the end-to-end suite: SQLite metadata DB, the DAG folder,
and the real ``airflow`` CLI (DAG processor, scheduler, ``dags test``, ``tasks test``) run as
subprocesses of .venv-airflow. Every process it starts is killed when it closes; it binds no
port (the scheduler runs with ``--skip-serve-logs``; task runs use the in-process execution API).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .conftest import DAGS_SRC

AIRFLOW = Path(sys.executable).with_name("airflow")

#: Faster than production, so a task that runs for a second is not stretched to 30 s by the log
#: fetcher's sleep: (text in dags/hybrid_etl/dag_factory.py, text in the test copy).
FAST_TIMINGS = (
    ("WAITER_DELAY_S = 6\n", "WAITER_DELAY_S = 1\n"),
    ("LOG_FETCH_INTERVAL = timedelta(seconds=30)\n", "LOG_FETCH_INTERVAL = timedelta(seconds=1)\n"),
)


class Running:
    """An airflow command running in the background; its output is collected as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                if text in self.output:
                    return
                raise AssertionError(
                    f"exited {self.proc.returncode} before {text!r}:\n{self.output}"
                )
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} after {timeout} s:\n{self.output}")

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        try:
            returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout} s:\n{self.output}") from None
        self._reader.join(timeout=10)
        return returncode, self.output


class AirflowHome:
    def __init__(self, home: Path, aws_endpoint: str, region: str) -> None:
        self.home = home
        self.dags_folder = home / "dags"
        self._procs: list[subprocess.Popen[str]] = []
        self._parsed: tuple[str, ...] | None = None
        shutil.copytree(
            DAGS_SRC, self.dags_folder, ignore=shutil.ignore_patterns("__pycache__", "*.json")
        )
        self.factory = self.dags_folder / "hybrid_etl" / "dag_factory.py"
        for production, fast in FAST_TIMINGS:
            self.edit_factory(production, fast)
        connection = {"conn_type": "aws", "extra": {"endpoint_url": aws_endpoint}}
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("AIRFLOW", "AWS_", "HYBRID_")) and k != "PYTHONPATH"
            },
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
            # the REST API, called in-process (see api()), lets every caller in as admin
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
            "PYTHONDONTWRITEBYTECODE": "1",  # the suite edits files between runs
        }
        self.airflow("db", "migrate", timeout=180)
        # The scheduler may create runs but never queue a task: the suite runs tasks itself.
        self.airflow("pools", "set", "default_pool", "0", "tasks run by the test only")

    # --- files ---------------------------------------------------------------------------------

    def edit_factory(self, old: str, new: str) -> None:
        text = self.factory.read_text()
        assert text.count(old) == 1, f"{old!r} not found once in {self.factory}"
        self.factory.write_text(text.replace(old, new))

    def write_manifest(self, manifest: dict[str, Any], network: dict[str, Any] | None) -> None:
        (self.dags_folder / "sites-manifest.json").write_text(json.dumps(manifest, indent=2))
        network_file = self.dags_folder / "sites-network.json"
        if network is None:
            network_file.unlink(missing_ok=True)
        else:
            network_file.write_text(json.dumps(network, indent=2))

    # --- processes -----------------------------------------------------------------------------

    def airflow(
        self,
        *args: str,
        timeout: float = 120,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = self.start(*args, env=env)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            out, _ = proc.communicate()
            raise AssertionError(
                f"airflow {' '.join(args)} timed out after {timeout} s:\n{out}"
            ) from None
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
        if check and proc.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} exited {proc.returncode}:\n{out}")
        return result

    def python(self, script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run Python code in the Airflow virtualenv with this installation's environment."""
        proc = self._popen([sys.executable, "-c", script])
        out, _ = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"script exited {proc.returncode}:\n{out}")
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")

    def api(self, calls: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
        """Calls to Airflow's REST API (what the UI sends), in one process, answered by the real
        API app in-process (FastAPI's TestClient: no port); each answer's JSON, in order."""
        script = f"""
import json
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app
answers = []
with TestClient(create_app()) as client:
    for method, path, body in {calls!r}:
        response = client.request(method, path, json=body)
        assert response.status_code == 200, (path, response.status_code, response.text)
        answers.append(response.json())
print("API-ANSWERS " + json.dumps(answers))
"""
        out = self.python(script, timeout=180).stdout
        (line,) = [line for line in out.splitlines() if line.startswith("API-ANSWERS ")]
        return list(json.loads(line.removeprefix("API-ANSWERS ")))

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return self._popen([str(AIRFLOW), *args], env)

    def background(self, *args: str) -> Running:
        return Running(self.start(*args))

    def trigger(self, dag_id: str, run_id: str, logical_date: str | None) -> None:
        """A manual run, as a user triggers it (no scheduler picks it up: the pool has no slot)."""
        date = ["--logical-date", logical_date] if logical_date else []
        self.airflow("dags", "trigger", dag_id, "--run-id", run_id, *date)

    def _popen(
        self, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            command,
            cwd=self.home,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: killed whole at the end
        )
        self._procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)

    def parse(self, *, stale_after_s: int | None = None) -> str:
        """One pass of the real DAG processor over the DAG folder.

        A DAG that disappears from a file Airflow still parses goes stale only once its last
        parse is ``[dag_processor] stale_dag_threshold`` (50 s) older than the file's, checked
        every ``[scheduler] parsing_cleanup_interval`` (60 s); ``stale_after_s`` shortens both.
        """
        args = ["dag-processor", "--num-runs", "1"]
        env = {}
        if stale_after_s is not None:
            args[-1] = "2"  # the cleanup runs in the loop after a pass
            env = {
                "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": str(stale_after_s),
                "AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL": "0",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "0",
            }
        output = self.airflow(*args, timeout=180, env=env).stdout
        self._parsed = self._inputs()
        return output

    def parse_if_changed(self) -> None:
        """Parse unless the DAG folder is as it was at the last parse (saves a process)."""
        if self._parsed != self._inputs():
            self.parse()

    def _inputs(self) -> tuple[str, ...]:
        files = ("sites-manifest.json", "sites-network.json", "hybrid_etl/dag_factory.py")
        return tuple(
            (self.dags_folder / f).read_text() if (self.dags_folder / f).exists() else ""
            for f in files
        )

    def close(self) -> None:
        for proc in self._procs:
            self.kill(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)

    # --- the metadata DB -----------------------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.home / "airflow.db", timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def execute(self, sql: str, *params: Any) -> None:
        with sqlite3.connect(self.home / "airflow.db", timeout=30) as db:
            db.execute(sql, params)

    def wait_for(self, sql: str, *params: Any, timeout: float = 90) -> list[tuple[Any, ...]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.query(sql, *params)
            if rows:
                return rows
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout} s waiting for: {sql} {params}")

    def dags(self) -> dict[str, dict[str, Any]]:
        rows = self.query(
            "SELECT dag_id, is_paused, is_stale, has_import_errors, relative_fileloc FROM dag"
        )
        keys = ("is_paused", "is_stale", "has_import_errors", "relative_fileloc")
        return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}

    def active_dags(self) -> set[str]:
        return {d for d, row in self.dags().items() if not row["is_stale"]}

    def import_errors(self) -> dict[str, str]:
        return dict(self.query("SELECT filename, stacktrace FROM import_error"))


def ts_nodash(iso: str) -> str:
    """The run id the ETL gets for a date from the DB ('2030-05-17 03:00:00.000000')."""
    return re.sub(r"[-:]", "", iso.replace(" ", "T"))[:15]
