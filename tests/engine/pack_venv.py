"""The policy pack's own virtualenv, built the way `pulumi install` builds it.

`policies/PulumiPolicy.yaml` names it (`runtime.options.virtualenv: venv`), so the Pulumi CLI
runs the pack with `policies/venv/bin/python`; `pulumi install`, run in the pack folder, creates
it with `python3 -m venv` and installs `requirements.txt`. The harness does the same, once: a
stamp in the virtualenv records the requirements and interpreter it was built from, so a second
`make test` reuses it and a change to `requirements.txt` rebuilds it. A lock keeps two test
runs from building it at the same time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

STAMP = "hybrid-airflow-pack.stamp"


class PackVenvError(RuntimeError):
    """The pack's virtualenv could not be built; the message has pip's own words."""


def venv_dir(pack_dir: Path) -> Path:
    """Where the CLI looks for the pack's virtualenv: PulumiPolicy.yaml's runtime option."""
    project = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    runtime = project.get("runtime") if isinstance(project, dict) else None
    options = runtime.get("options") if isinstance(runtime, dict) else None
    name = options.get("virtualenv") if isinstance(options, dict) else None
    if not isinstance(name, str) or not name:
        raise PackVenvError(
            f"{pack_dir}/PulumiPolicy.yaml names no virtualenv (runtime.options.virtualenv)"
        )
    path = Path(name)
    return path if path.is_absolute() else pack_dir / path


def base_python() -> str:
    """The interpreter `pulumi install` uses: $PULUMI_PYTHON_CMD, else python3 on PATH."""
    return os.environ.get("PULUMI_PYTHON_CMD") or shutil.which("python3") or sys.executable


def _fingerprint(pack_dir: Path, python: str) -> str:
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    requirements = (pack_dir / "requirements.txt").read_bytes()
    return hashlib.sha256(requirements + b"\0" + version.encode()).hexdigest()


def ensure_pack_venv(pack_dir: Path, log: bool = True) -> Path:
    """The pack's virtualenv python, building the virtualenv if it is missing or stale."""
    pack_dir = pack_dir.resolve()
    venv = venv_dir(pack_dir)
    python = base_python()
    wanted = _fingerprint(pack_dir, python)
    stamp = venv / STAMP
    lock_path = Path(tempfile.gettempdir()) / (
        "hybrid-pack-venv-" + hashlib.sha256(str(venv).encode()).hexdigest()[:16] + ".lock"
    )
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == wanted:
            return venv / "bin" / "python"
        started = time.perf_counter()
        if log:
            print(
                f"\nbuilding the policy pack's virtualenv {venv} (as `pulumi install`)", flush=True
            )
        _run([python, "-m", "venv", "--clear", str(venv)], pack_dir)
        _run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                "requirements.txt",
            ],
            pack_dir,
        )
        stamp.write_text(wanted + "\n", encoding="utf-8")
        if log:
            print(f"built {venv} in {time.perf_counter() - started:.0f}s", flush=True)
    return venv / "bin" / "python"


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackVenvError(
            f"`{' '.join(command)}` failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
