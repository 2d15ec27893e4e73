"""README "Deploying for real", followed literally with the harness standing in for the CLI.

Each command of the section's first block is interpreted as the Pulumi CLI would run it:
`pulumi install` in the pack folder builds the pack's virtualenv, `export` sets the pack's
environment, `preview`/`up --policy-pack` start the pack as the engine does (stack told),
`stack export` writes the state, `policy analyze --file` starts the pack with no stack. The pack
must start and load compliance's config (the levels it reports are the config's), and report
what `hybridctl check` reports. A command the harness cannot follow fails the test.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import empty_pb2

from hybridctl.capture import Capture, capture
from hybridctl.policy_pack import hybrid_policies as hp
from hybridctl.stackfile import PROJECT_DIR, STACKS_DIR, StackFile, load
from hybridctl.state_export import export
from tests.engine.agreement import check_findings, engine_findings
from tests.engine.conftest import PACK_DIR, Packs, run_check
from tests.engine.engine_host import LEVELS, EngineRun, PackStartError, PolicyPack, StackContext
from tests.engine.pack_venv import ensure_pack_venv
from tests.engine.snapshot import snapshot_capture

README = PROJECT_DIR / "README.md"
SUBSHELL = re.compile(r"^\((?:cd (?P<dir>\S+) && )(?P<command>.+)\)$")


def section_blocks(title: str) -> list[list[str]]:
    """The shell code blocks of a README section, as lists of command lines."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


@dataclass
class Cli:
    """The Pulumi CLI, as far as the README uses it, played by the harness."""

    packs: Packs
    workdir: Path
    stack: StackFile | None = None
    env: dict[str, str] = field(default_factory=dict)
    pack_pythons: dict[Path, Path] = field(default_factory=dict)
    runs: list[tuple[str, EngineRun, Capture]] = field(default_factory=list)
    up: Capture | None = None

    def run(self, line: str) -> None:
        cwd = PROJECT_DIR
        match = SUBSHELL.match(line.split("  #", 1)[0].strip())
        if match:
            cwd, line = PROJECT_DIR / match["dir"], match["command"]
        words = shlex.split(line, comments=True)
        match words:
            case ["pulumi", "login", *_]:
                pass  # the state backend: nothing the pack sees
            case ["pulumi", "stack", "init" | "select", name]:
                path = STACKS_DIR / f"Pulumi.{name}.yaml"
                assert path.is_file(), f"`{line}`: no stack config {path}"
                self.stack = load(path)
            case ["pulumi", "install"]:
                self.install(cwd)
            case ["export", assignment]:
                key, _, value = assignment.partition("=")
                self.env[key] = value
            case ["pulumi", ("preview" | "up") as command, "--policy-pack", pack]:
                self.deploy(command, PROJECT_DIR / pack)
            case ["pulumi", "stack", "export", "--file", name]:
                assert self.up is not None, "nothing deployed to export"
                document = export(self.up, "2026-11-28T00:00:00+00:00")
                (self.workdir / name).write_text(json.dumps(document), encoding="utf-8")
            case ["pulumi", "policy", "analyze", "--policy-pack", pack, "--file", name]:
                self.analyze(PROJECT_DIR / pack, self.workdir / name)
            case _:
                pytest.fail(f"the harness cannot follow the README command `{line}`")

    def install(self, cwd: Path) -> None:
        if (cwd / "PulumiPolicy.yaml").is_file():
            self.pack_pythons[cwd.resolve()] = ensure_pack_venv(cwd)
            return
        project = yaml.safe_load((cwd / "Pulumi.yaml").read_text(encoding="utf-8"))
        venv = cwd / project["runtime"]["options"]["virtualenv"]
        assert (venv / "bin" / "python").is_file(), f"the program's virtualenv {venv}"

    def pack_python(self, pack: Path) -> Path:
        python = self.pack_pythons.get(pack.resolve())
        assert python is not None, f"`pulumi install` was not run in {pack} before using the pack"
        return python

    def deploy(self, command: str, pack: Path) -> None:
        assert self.stack is not None, "no stack selected"
        mode = "preview" if command == "preview" else "up"
        captured = capture(self.stack, mode=mode)
        context = StackContext.of(self.stack, dry_run=mode == "preview")
        with PolicyPack(
            pack, self.pack_python(pack), self.packs.host, context, self.env
        ) as started:
            self.runs.append((command, started.analyze(captured), captured))
        if mode == "up":
            self.up = captured

    def analyze(self, pack: Path, state: Path) -> None:
        snapshot = snapshot_capture(json.loads(state.read_text(encoding="utf-8")))
        with PolicyPack(pack, self.pack_python(pack), self.packs.host, None, self.env) as started:
            self.runs.append(("policy analyze", started.analyze(snapshot), snapshot))


def documented_config(pack: Path, env: dict[str, str], stack: str | None) -> Path:
    """The config the README says the pack loads: $HYBRID_POLICY_CONFIG (relative to the pack
    folder, or absolute), else config.<stack>.json when the CLI tells the pack the stack."""
    if env.get("HYBRID_POLICY_CONFIG"):
        return pack / env["HYBRID_POLICY_CONFIG"]
    assert stack is not None
    return pack / f"config.{stack}.json"


def test_the_deploy_commands_start_the_pack_with_compliances_config(
    packs: Packs, tmp_path: Path
) -> None:
    [commands, *_] = section_blocks("Deploying for real")
    cli = Cli(packs, tmp_path)
    for line in commands:
        cli.run(line)
    assert [command for command, _, _ in cli.runs] == ["preview", "up", "policy analyze"]
    assert cli.stack is not None
    stack = cli.stack.name
    config = hp.load_config(documented_config(PACK_DIR, cli.env, stack), hp.POLICY_NAMES)
    expected_levels = {
        spec.name: LEVELS[hp.enforcement_level(spec, config)] for spec in hp.POLICIES
    }
    assert expected_levels["mwaa-private-webserver"] == LEVELS["mandatory"]  # prod's, not default
    _, report = run_check("--stack", stack)
    for command, run, captured in cli.runs:
        assert {p.name: p.enforcementLevel for p in run.info.policies} == expected_levels, command
        if command != "preview":
            assert engine_findings(run.violations(), captured) == check_findings(report), command


def test_the_secret_example_points_at_a_site_with_a_database() -> None:
    [block] = section_blocks("Deploying for real")[1:2]
    [line] = block
    words = shlex.split(line, comments=True)
    assert words[:5] == ["pulumi", "config", "set", "--secret", "--path"]
    key, flags = words[5], words[6:]
    assert flags == ["--stack", "prod"]  # no value on the command line: the CLI prompts for it
    value = "typed-at-the-prompt"
    match = re.fullmatch(r"(?P<key>[\w-]+:[\w-]+)\[(?P<index>\d+)\]\.(?P<path>.+)", key)
    assert match, key
    stack = load(STACKS_DIR / "Pulumi.prod.yaml")
    sites: list[dict[str, Any]] = stack.config[match["key"]]
    site = sites[int(match["index"])]
    *parents, leaf = match["path"].split(".")
    target = site
    for part in parents:
        assert isinstance(target.get(part), dict), f"{site['name']} has no {part} block"
        target = target[part]
    assert {"host", "port", "name", "username"} <= set(target)
    target[leaf] = value  # what `pulumi config set --secret --path` stores, encrypted:
    secret = (match["key"], int(match["index"]), *parents, leaf)
    replace(
        stack,
        secret_keys=stack.secret_keys | {match["key"]},
        secret_paths=(stack.secret_paths or frozenset()) | {secret},
    ).typed()


def test_a_path_from_the_repository_root_names_the_same_config(packs: Packs) -> None:
    """The README's earlier form (issue 10), relative to the repository root: the engine runs
    the pack in its folder, where that path does not exist; the pack resolves a relative path
    in its folder, then in the project root (as README and policies/README.md say), so it loads
    compliance's prod config, the same as `config.prod.json`."""
    context = StackContext.of(load(STACKS_DIR / "Pulumi.prod.yaml"), dry_run=True)
    assert not (PACK_DIR / "policies/config.prod.json").exists()  # not where the pack runs
    levels = []
    for given in ("policies/config.prod.json", "config.prod.json"):
        env = {"HYBRID_POLICY_CONFIG": given}
        with PolicyPack(PACK_DIR, packs.python, packs.host, context, env) as pack:
            info = pack.stub.GetAnalyzerInfo(empty_pb2.Empty())
            levels.append({p.name: p.enforcementLevel for p in info.policies})
    assert levels[0] == levels[1]
    assert levels[0]["mwaa-private-webserver"] == LEVELS["mandatory"]  # prod's, not default


def test_a_config_path_found_nowhere_stops_the_pack_and_the_harness_says_why(
    packs: Packs,
) -> None:
    """A relative path that is in neither folder (a misspelt file name): the pack exits before
    printing its port, which is how the CLI reports a failed pack, and the harness reports the
    pack's reason."""
    context = StackContext.of(load(STACKS_DIR / "Pulumi.prod.yaml"), dry_run=True)
    env = {"HYBRID_POLICY_CONFIG": "policies/config.production.json"}
    with pytest.raises(PackStartError, match="before printing its port") as raised:
        PolicyPack(PACK_DIR, packs.python, packs.host, context, env).close()
    assert "no such file in the pack folder" in str(raised.value)
    assert "policies/config.production.json" in str(raised.value)
