"""Which policy config the pack loads, as the engine starts it (cwd = the pack folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_policies import locate
from hybridctl.policy_pack import PACK_DIR
from hybridctl.policy_pack import hybrid_policies as hp

PROJECT = PACK_DIR.parent


def test_by_stack_from_the_engine() -> None:
    assert hp.resolve_config({"PULUMI_STACK": "prod"}) == PACK_DIR / "config.prod.json"
    assert hp.resolve_config({"PULUMI_STACK": "acme/hybrid-airflow/dev"}) == (
        PACK_DIR / "config.dev.json"
    )


def test_an_unknown_stack_says_which_file_is_missing() -> None:
    with pytest.raises(hp.ConfigNotFound, match=r"config\.staging\.json does not exist"):
        hp.resolve_config({"PULUMI_STACK": "staging"})


def test_policy_analyze_sends_no_stack_so_the_variable_is_required() -> None:
    with pytest.raises(hp.ConfigNotFound) as error:
        hp.resolve_config({})
    assert "pulumi policy analyze" in str(error.value)
    assert hp.CONFIG_ENV in str(error.value)


@pytest.mark.parametrize("given", ["config.prod.json", "policies/config.prod.json"])
def test_relative_paths_resolve_against_the_pack_folder_then_the_project(given: str) -> None:
    """The README's form (`policies/...`) and the pack-folder form both find the file, whatever
    the working directory (the engine's is the pack folder)."""
    found = hp.resolve_config({hp.CONFIG_ENV: given, "PULUMI_STACK": "dev"})
    assert found == (PACK_DIR / "config.prod.json").resolve()


def test_the_variable_wins_over_the_stack(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{}", encoding="utf-8")
    assert hp.resolve_config({hp.CONFIG_ENV: str(path), "PULUMI_STACK": "prod"}) == path


def test_a_missing_file_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(hp.ConfigNotFound, match="no such file"):
        hp.resolve_config({hp.CONFIG_ENV: str(tmp_path / "x.json"), "PULUMI_STACK": "prod"})
    with pytest.raises(hp.ConfigNotFound, match="not the working directory"):
        hp.resolve_config({hp.CONFIG_ENV: "nowhere.json"})


def test_a_relative_path_naming_two_files_is_ambiguous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack, project = tmp_path / "policies", tmp_path
    pack.mkdir()
    for folder in (pack, project):
        (folder / "c.json").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(locate, "PACK_DIR", pack)
    monkeypatch.setattr(locate, "PROJECT_DIR", project)
    with pytest.raises(hp.ConfigNotFound, match="ambiguous"):
        hp.resolve_config({hp.CONFIG_ENV: "c.json"})


def test_hybridctl_lookup() -> None:
    assert hp.config_path("prod", {}) == PACK_DIR / "config.prod.json"
    assert hp.config_path("nowhere", {}) is None
