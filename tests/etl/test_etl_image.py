"""The image definition, checked without a Docker engine."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.etl.conftest import ETL_DIR

DOCKERFILE = (ETL_DIR / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", DOCKERFILE, re.M)]


def test_base_image_is_pinned_slim_and_shared_by_both_stages() -> None:
    arg = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M)
    assert arg
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", arg.group(1))
    assert instructions("FROM") == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE}"]


def test_final_stage_is_venv_and_package_only_non_root() -> None:
    final = DOCKERFILE.split("\nFROM ${PYTHON_IMAGE}\n", 1)[1]
    copies = re.findall(r"^COPY (.*)$", final, re.M)
    assert copies == ["--from=builder /opt/venv /opt/venv", "--from=builder /app /app"]
    user = instructions("USER")
    assert user
    assert user[-1].split(":")[0] not in ("root", "0")
    entry = instructions("ENTRYPOINT")[-1]
    assert json.loads(entry) == ["python", "-m", "etl"]
    assert "requirements.txt" in DOCKERFILE


def test_requirements_are_pinned() -> None:
    lines = [ln.strip() for ln in (ETL_DIR / "requirements.txt").read_text().splitlines()]
    reqs = [ln for ln in lines if ln and not ln.startswith("#")]
    assert reqs == [
        "PyMySQL==1.2.4",
        "boto3==1.44.8",
        "pyarrow==26.0.1",
        "numpy==2.4.6",
        "isal==1.9.1",
    ]
    # The dev environment (tests, benchmarks) installs the same pins.
    dev = (ETL_DIR.parent / "requirements-dev.txt").read_text()
    assert "-r etl_image/requirements.txt" in dev


def test_the_package_imports_nothing_from_the_rest_of_the_repository() -> None:
    """The image ships etl/ alone: every import is the standard library, a pinned
    requirement or etl itself."""
    import ast
    import sys

    allowed = {"etl", "pymysql", "boto3", "botocore", "pyarrow", "numpy", "isal", "zlib_ng"}
    for path in (ETL_DIR / "etl").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in sys.stdlib_module_names, (path.name, name)


def test_dockerignore_sends_only_package_and_requirements() -> None:
    ignore = (ETL_DIR / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:3] == ["*", "!requirements.txt", "!etl/"]


def test_help_runs_as_the_entrypoint_does() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "etl", "--help"],
        cwd=ETL_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0
    for flag in (
        "--secret-id",
        "--query",
        "--bucket",
        "--key-prefix",
        "--format",
        "--run-id",
        "--region",
        "--site",
        "--parallel",
        "--split-column",
    ):
        assert flag in res.stdout
