"""Fixtures for the DAG tests: the prod sites manifest and network file, a DAG folder, a DagBag.

Runs in the Airflow virtualenv (.venv-airflow). The manifest is produced by the real stack
program through the main virtualenv's ``hybridctl plan`` (a subprocess), so these tests pin the
contract between the stack and the DAGs.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Airflow reads its configuration on first import: point it at a private, throwaway home.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_AIRFLOW_HOME, "dags")
os.environ.pop("HYBRID_SITES_MANIFEST", None)

ROOT = Path(__file__).resolve().parents[2]
DAGS_SRC = ROOT / "dags"
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"
PROD_STACK = ROOT / "stacks" / "Pulumi.prod.yaml"
SCHEMA = ROOT / "docs" / "sites-manifest.schema.json"
NETWORK_SCHEMA = ROOT / "docs" / "sites-network.schema.json"
DAG_FILE = "hybrid_sites.py"  # the valid sites' DAGs
PROBLEMS_FILE = "hybrid_sites_problems.py"  # the import error naming invalid sites
LIB = "hybrid_etl"  # the package both DAG files import


def pytest_configure(config: pytest.Config) -> None:
    # expected: Airflow's own .airflowignore (pathspec) notice
    config.addinivalue_line("filterwarnings", "ignore:GitWildMatchPattern:DeprecationWarning")


@pytest.fixture(scope="session", autouse=True)
def _cleanup_airflow_home() -> Iterator[None]:
    yield
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def prod_manifest_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prod sites manifest, written by ``hybridctl plan`` from stacks/Pulumi.prod.yaml
    (with ``sites-network.json`` beside it, as in the DAG bucket)."""
    if not MAIN_PYTHON.exists():
        pytest.fail(
            f"{MAIN_PYTHON} is missing: the DAG tests build the sites manifest with hybridctl "
            "from the main virtualenv; run `make .venv/.installed` first"
        )
    out = tmp_path_factory.mktemp("manifest") / "sites-manifest.json"
    command = [str(MAIN_PYTHON), "-m", "hybridctl", "plan", "--stack-file", str(PROD_STACK)]
    proc = subprocess.run(
        [*command, "--manifest", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"hybridctl plan failed:\n{proc.stdout}\n{proc.stderr}"
    assert out.with_name("sites-network.json").exists(), "hybridctl wrote no sites-network.json"
    return out


@pytest.fixture
def prod_manifest(prod_manifest_file: Path) -> dict[str, Any]:
    """A fresh, editable copy of the prod manifest."""
    return json.loads(prod_manifest_file.read_text())


@pytest.fixture
def prod_network(prod_manifest_file: Path) -> dict[str, Any]:
    """A fresh, editable copy of the prod network file."""
    return json.loads(prod_manifest_file.with_name("sites-network.json").read_text())


def site_of(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next(site for site in manifest["sites"] if site["name"] == name)


MakeFolder = Callable[..., Path]
_NO_NETWORK: Any = object()


@pytest.fixture
def make_dags_folder(tmp_path: Path, prod_manifest_file: Path) -> MakeFolder:
    """A copy of dags/ in a tmp folder with ``manifest`` (dict), ``raw`` text, or no manifest,
    and the prod network file beside it unless ``network`` says otherwise (None: no file)."""
    counter = iter(range(1000))
    prod_network = json.loads(prod_manifest_file.with_name("sites-network.json").read_text())

    def make(
        manifest: dict[str, Any] | None = None,
        *,
        raw: str | None = None,
        network: dict[str, Any] | None = _NO_NETWORK,
    ) -> Path:
        folder = tmp_path / f"dags{next(counter)}"
        shutil.copytree(DAGS_SRC, folder, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
        target = folder / "sites-manifest.json"
        if raw is not None:
            target.write_text(raw)
        elif manifest is not None:
            target.write_text(json.dumps(copy.deepcopy(manifest), indent=2))
        network = prod_network if network is _NO_NETWORK else network
        if network is not None:
            (folder / "sites-network.json").write_text(json.dumps(network, indent=2))
        return folder

    return make


def load_dagbag(folder: Path) -> Any:
    """Parse a DAG folder like the DAG processor does (no database needed).

    Airflow puts the DAG folder on ``sys.path``; in one test process that sees many folders,
    this one's ``hybrid_etl`` package must be the one the DAG files import.
    """
    from airflow.models import DagBag

    for name in [m for m in sys.modules if m == LIB or m.startswith(f"{LIB}.")]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    try:
        return DagBag(dag_folder=str(folder))
    finally:
        sys.path.remove(str(folder))


@pytest.fixture
def prod_dagbag(make_dags_folder: MakeFolder, prod_manifest: dict[str, Any]) -> Any:
    bag = load_dagbag(make_dags_folder(prod_manifest))
    assert bag.import_errors == {}, bag.import_errors
    return bag
