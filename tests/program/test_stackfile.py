"""Every mistake of issue 11 in a stack file: exit 2, the line or site and field, no traceback."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hybridctl.cli import main
from hybridctl.stackfile import PROJECT_DIR
from tests.program.conftest import PROD

PROD_TEXT = PROD.read_text(encoding="utf-8")


def plan(path: Path, *extra: str) -> tuple[int, str, str]:
    """`hybridctl plan` in-process: an exception escaping main() would be the traceback."""
    out, err = io.StringIO(), io.StringIO()
    stderr, sys.stderr = sys.stderr, err
    try:
        code = main(["plan", "--stack-file", str(path), *extra], out=out)
    finally:
        sys.stderr = stderr
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str | bytes, name: str = "Pulumi.t.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str | bytes) -> str:
    code, out, err = plan(write(tmp_path, text))
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    return err


def edited(old: str, new: str, count: int = 1) -> str:
    assert PROD_TEXT.count(old) >= count, old
    return PROD_TEXT.replace(old, new, count)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    return text.count("\n", 0, index) + 1


def test_a_repeated_key_inside_a_site_is_refused_naming_both_lines(tmp_path: Path) -> None:
    # munich regulated, then a second `residency: standard` further down the same mapping.
    text = edited(
        "      region: eu-central-1\n      database:",
        "      region: eu-central-1\n      residency: standard\n      database:",
    )
    err = refused(tmp_path, text)
    first = line_of(text, "residency: regulated")
    second = line_of(text, "residency: standard", 2)
    assert (
        f"line {second}: key 'residency' repeats the one on line {first} "
        "(in config.hybrid-airflow:sites[1])" in err
    )


def test_a_repeated_sites_key_is_refused(tmp_path: Path) -> None:
    text = PROD_TEXT + "  hybrid-airflow:sites: []\n"
    err = refused(tmp_path, text)
    assert f"line {line_of(text, 'hybrid-airflow:sites: []')}: key 'hybrid-airflow:sites'" in err


def test_aliases_are_refused_quickly_however_far_they_would_expand(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]
    text = "config:\n" + "\n".join(f"  {line}" for line in lines) + "\n"
    started = time.perf_counter()
    err = refused(tmp_path, text)
    assert time.perf_counter() - started < 5
    assert "line 2: anchor &a0 is not allowed in a stack file" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"config:\n  aws:region: eu-central-1\xff\n", "line 2: not UTF-8 (byte 0xff at offset"),
        ("config:\n  1: x\n", "line 2: key '1' must be a name"),
        ("config:\n  aws:region: !!binary aGk=\n", "line 2: explicit tag"),
        ("config: [unclosed", "line 1: not valid YAML"),
        ("", "a stack file needs a top-level 'config:' mapping"),
        ("confg:\n  a: 1\n", "a stack file needs a top-level 'config:' mapping"),
        (
            "config: {}\nsecretprovider: x\n",
            "'secretprovider' is not a stack file key; did you mean 'secretsprovider'?",
        ),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("config:\n  a: \x00\n", "line 2: character U+0000 is not allowed in YAML"),
    ],
)
def test_unreadable_files_are_exit_2_with_the_line(
    tmp_path: Path, text: str | bytes, message: str
) -> None:
    assert message in refused(tmp_path, text)


def test_a_directory_or_a_huge_file_is_exit_2(tmp_path: Path) -> None:
    code, _, err = plan(tmp_path)
    assert code == 2
    assert "is a directory" in err
    err = refused(tmp_path, "config:\n" + "  # padding\n" * 200_000)
    assert "larger than 1024 KiB" in err


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  hybrid-airflow:sites:",
            "  hybrid-airflow:sties:",
            "hybrid-airflow:sties: is not a key the program reads; did you mean "
            "'hybrid-airflow:sites'?",
        ),
        (
            "  hybrid-airflow:sites:",
            "  hybrid-airfow:sites:",
            "hybrid-airfow:sites: unknown namespace 'hybrid-airfow'; did you mean "
            "'hybrid-airflow:sites'?",
        ),
        ("  hybrid-airflow:sites:", "  sties:", "hybrid-airflow:sties: is not a key"),
        (
            "      residency: regulated\n      region: eu-central-1",
            "      residncy: regulated\n      region: eu-central-1",
            "sites[1] (munich).residncy: is not a known field; did you mean 'residency'?",
        ),
        (
            "    environment: prod\n",
            "    environment: prod\n    allowedRegions: [eu-central-1]\n",
            "platform.allowedRegions: is no longer read from the stack config",
        ),
        (
            'schedule: "0 3 * * *"',
            'schedule: "0 25 * * *"',
            "sites[1] (munich).extracts[0].schedule: '0 25 * * *' is not a cron expression",
        ),
        (
            "FROM admissions",
            "FROM admissions INTO OUTFILE '/tmp/x'",
            "sites[1] (munich).extracts[0].query: the ETL would refuse it: SELECT ... INTO",
        ),
        (
            "        username: etl\n",
            "        username: etl\n        password: hunter2\n",
            "sites[1] (munich).database.password: is plain text in the stack config; delete it "
            "and store it encrypted with: pulumi config set --secret --path "
            "'hybrid-airflow:sites[1].database.password' --stack t",
        ),
        (
            "        username: etl\n",
            "        username: etl\n        password: {secure: ...}\n",
            "sites[1] (munich).database.password: `{secure: ...}` holds no ciphertext (a "
            "placeholder?); Pulumi writes it with: pulumi config set --secret --path "
            "'hybrid-airflow:sites[1].database.password' --stack t",
        ),
        ("    - name: dublin", "    - name: dublin\n", None),  # still valid: a blank line
        (
            "    - name: dublin",
            '    - name: "dublin\\n"',
            "sites[2] (dublin\n).name: must be DNS-safe",
        ),
        ("      region: eu-west-1", "      region: eu-west-\u0661", "sites[2] (dublin).region: "),
        (
            "    - name: dublin",
            "    - name: shared",
            "sites[2] (shared).name: its ECS cluster name 'hybrid-prod-shared' is already",
        ),
    ],
)
def test_each_mistake_names_its_line_site_and_field(
    tmp_path: Path, old: str, new: str, expected: str | None
) -> None:
    text = edited(old, new)
    if expected is None:
        code, _, err = plan(write(tmp_path, text), "--format", "json")
        assert code == 0, err
        return
    err = refused(tmp_path, text)
    matching = [line for line in err.splitlines() if expected.splitlines()[0] in line]
    assert matching, err
    assert matching[0].startswith("error:   line "), matching[0]
    assert "hunter2" not in err


def test_a_missing_sites_key_is_an_error_and_an_empty_list_removes_everything(
    tmp_path: Path,
) -> None:
    head, _, _ = PROD_TEXT.partition("  hybrid-airflow:sites:")
    err = refused(tmp_path, head)
    assert "hybrid-airflow:sites: is required: a stack without sites says so explicitly" in err
    code, out, err = plan(write(tmp_path, head + "  hybrid-airflow:sites: []\n"))
    assert code == 0, err
    assert "0 sites" in out.splitlines()[0]
    assert "hybrid-airflow:sites is empty: `pulumi up` removes every site" in err


def test_a_real_secure_value_passes_and_stays_opaque(tmp_path: Path) -> None:
    ciphertext = "v1:ZW5jcnlwdGVkLXBhc3N3b3Jk:c2VjcmV0LWNpcGhlcnRleHQ="
    text = edited(
        "        username: etl\n",
        f"        username: etl\n        password:\n          secure: {ciphertext}\n",
    )
    code, out, err = plan(write(tmp_path, text), "--format", "json")
    assert code == 0, err
    assert "c2VjcmV0LWNpcGhlcnRleHQ" not in out


def test_warns_naming_both_files_when_a_region_is_not_allowed(tmp_path: Path) -> None:
    text = edited("      region: eu-west-1", "      region: us-east-1")
    code, _, err = plan(write(tmp_path, text, "Pulumi.prod.yaml"))
    assert code == 0, err
    (warning,) = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "sites[2] (dublin).region us-east-1" in warning
    assert "Pulumi.prod.yaml" in warning
    assert "policies/config.prod.json" in warning


def test_the_process_prints_no_traceback(tmp_path: Path) -> None:
    """The same through a real process, for the inputs that used to end in a traceback."""
    cases = {
        "not-utf8": write(tmp_path, b"config:\n  a: \xff\n", "Pulumi.a.yaml"),
        "int-key": write(tmp_path, "config:\n  1: x\n", "Pulumi.b.yaml"),
        "directory": tmp_path,
    }
    for label, path in cases.items():
        result = subprocess.run(
            [sys.executable, "-m", "hybridctl", "plan", "--stack-file", str(path)],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 2, label
        assert result.stderr.startswith("error: "), label
        assert "Traceback" not in result.stderr, label
