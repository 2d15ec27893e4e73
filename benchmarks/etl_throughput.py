"""Throughput of the ETL image (``python -m etl``) against ``mysql --batch --quick | gzip -1``.

Starts a private MariaDB and a moto S3 server, loads 3,000,000 rows of 8 mixed columns, then
for 100k, 1M and 3M rows times the baseline (the mysql client piped into gzip -1, to a local
file) and the ETL in both formats (a subprocess streaming Parquet or gzip CSV into moto S3),
sampling the ETL's process tree RSS from /proc. The ratio is baseline seconds / ETL seconds,
both measured in this run (best of --repeat). Last lines:

    etl_throughput parquet: ratio 0.62 (1M rows), peak RSS 110 MB at 100k, ...
    etl_throughput csv.gz: ratio 0.83 (1M rows), peak RSS 60 MB at 100k, ...

Usage: .venv/bin/python benchmarks/etl_throughput.py [--rows N] [--parallel N] [--repeat N]
           [--image-venv DIR]   # run the ETL in a venv of etl_image/requirements.txt only
           [--glue]             # Parquet runs register their partition in moto's Glue, as
                                # the platform's do
Goals at 1M rows, one process: Parquet >= 0.5, CSV >= 0.8; peak RSS <= 150 MB at every size
(with --glue too: the platform's runs register their partitions).
RSS: the dev venv holds more than the image (PyMySQL imports ``cryptography`` when it is
installed: +12 MB), so measure RSS with ``--image-venv`` (made on first use, with python3.12
when there is one, as in the image).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.services import MariaDB, MotoServer, seed_customers_fast  # noqa: E402

REGION = "eu-central-1"
DB, USER, PASSWORD = "bench", "etl", "bench-Pw-0c9e"
BUCKET = "etl-bench"
EXTRA_ENV: dict[str, str] = {}  # --env KEY=VALUE: tuning for the ETL runs
GLUE_DATABASE = "bench_catalog"


def image_venv(path: Path) -> str:
    """A virtualenv holding exactly what the image installs; returns its python."""
    python = path / "bin" / "python"
    if not python.exists():
        base = next(
            (c for c in (shutil.which("python3.12"), sys.executable) if c and _runs(c)),
            sys.executable,
        )
        subprocess.run([base, "-m", "venv", str(path)], check=True)
        reqs = ROOT / "etl_image" / "requirements.txt"
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--only-binary=:all:", "-r", str(reqs)],
            check=True,
        )
    return str(python)


def _runs(python: str) -> bool:
    """Whether ``python`` starts (a pyenv shim may name a version that is not installed)."""
    res = subprocess.run([python, "-c", "pass"], capture_output=True, check=False)
    return res.returncode == 0


def tree_rss_kb(pid: int) -> int:
    """Sum of VmRSS of ``pid`` and all its descendants."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def run_sampled(
    cmd: list[str], env: dict[str, str]
) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Run ``cmd``; return (seconds, peak tree RSS in kB, result)."""
    peak = 0
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=ROOT / "etl_image",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(proc.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return seconds, peak, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def baseline(db: MariaDB, query: str, path: Path) -> float:
    mysql = shutil.which("mariadb") or shutil.which("mysql") or "mysql"
    env = {**os.environ, "MYSQL_PWD": PASSWORD}
    started = time.perf_counter()
    with path.open("wb") as out:
        client = subprocess.Popen(
            [
                mysql,
                "--batch",
                "--quick",
                "-h",
                db.host,
                "-P",
                str(db.port),
                "-u",
                USER,
                DB,
                "-e",
                query,
            ],
            stdout=subprocess.PIPE,
            env=env,
        )
        gz = subprocess.Popen(["gzip", "-1"], stdin=client.stdout, stdout=out)
        assert client.stdout is not None
        client.stdout.close()
        gz.wait()
        client.wait()
    if client.returncode or gz.returncode:
        raise SystemExit(f"baseline failed: mysql {client.returncode}, gzip {gz.returncode}")
    return time.perf_counter() - started


def etl(
    moto: MotoServer,
    secret: str,
    query: str,
    run_id: str,
    parallel: int,
    python: str,
    fmt: str,
    glue: bool = False,
) -> tuple[float, int, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ETL_"))}
    env.update(moto.env(REGION))
    env["PYTHONPATH"] = str(ROOT / "etl_image")
    if glue and fmt == "parquet":
        env["ETL_GLUE_DATABASE"] = GLUE_DATABASE
    env.update(EXTRA_ENV)
    cmd = [
        python,
        "-m",
        "etl",
        "--secret-id",
        secret,
        "--query",
        query,
        "--bucket",
        BUCKET,
        "--key-prefix",
        "bench",
        "--run-id",
        run_id,
        "--format",
        fmt,
    ]
    if parallel > 1:
        cmd += ["--parallel", str(parallel), "--split-column", "id"]
    seconds, peak_kb, res = run_sampled(cmd, env)
    if res.returncode != 0:
        raise SystemExit(f"ETL failed ({res.returncode}):\n{res.stderr}")
    done = [json.loads(line) for line in res.stderr.splitlines() if '"phase":"done"' in line][-1]
    return seconds, peak_kb, done


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--parallel", type=int, default=1, help="ETL worker processes (default 1)")
    ap.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter for the ETL (default this one; a venv with only etl_image/requirements.txt matches the image)",
    )
    ap.add_argument("--repeat", type=int, default=2, help="runs per measurement; best is kept")
    ap.add_argument("--formats", default="parquet,csv.gz", help="comma-separated (default both)")
    ap.add_argument(
        "--plateau-rows",
        type=int,
        default=3_000_000,
        help="a larger run that shows peak RSS stays flat beyond --rows (0: skip)",
    )
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the ETL runs")
    ap.add_argument(
        "--glue", action="store_true", help="Parquet runs also register in moto's Glue catalog"
    )
    ap.add_argument(
        "--image-venv",
        help="a venv with only etl_image/requirements.txt (made if missing) to run the ETL in",
    )
    opts = ap.parse_args()
    EXTRA_ENV.update(kv.split("=", 1) for kv in opts.env)
    if opts.image_venv:
        opts.python = image_venv(Path(opts.image_venv))
    sizes = sorted({min(100_000, opts.rows), opts.rows} | ({opts.plateau_rows} - {0}))
    loaded = sizes[-1]
    tmp = Path(tempfile.mkdtemp(prefix="etl-bench-"))
    try:
        with MariaDB(extra_args=["--innodb-buffer-pool-size=512M"]) as db, MotoServer() as moto:
            db.create_database_and_user(DB, USER, PASSWORD)
            t = time.perf_counter()
            with db.root_connect(DB) as conn:
                seed_customers_fast(conn, loaded)
            print(f"loaded {loaded:,} rows x 8 columns in {time.perf_counter() - t:.1f}s")
            s3 = moto.client("s3", REGION)
            s3.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            moto.client("secretsmanager", REGION).create_secret(
                Name="bench/db", SecretString=json.dumps(db.secret(DB, USER, PASSWORD))
            )
            if opts.glue:
                moto.client("glue", REGION).create_database(DatabaseInput={"Name": GLUE_DATABASE})

            formats = opts.formats.split(",")
            results: dict[tuple[str, int], tuple[float, int]] = {}
            for n in sizes:
                query = "SELECT * FROM customers" + ("" if n == loaded else f" WHERE id <= {n}")
                baseline(db, query, tmp / "warmup.tsv.gz")  # warm the buffer pool
                base_s = min(baseline(db, query, tmp / "out.tsv.gz") for _ in range(opts.repeat))
                base_mb = (tmp / "out.tsv.gz").stat().st_size / 1e6
                print(
                    f"{n:>9,} rows: baseline {n / base_s:>9,.0f} rows/s "
                    f"({base_s:.2f}s, {base_mb:.1f} MB)"
                )
                for fmt in formats:
                    runs = [
                        etl(
                            moto,
                            "bench/db",
                            query,
                            f"{fmt}-{n}-{i}",
                            opts.parallel,
                            opts.python,
                            fmt,
                            opts.glue,
                        )
                        for i in range(opts.repeat)
                    ]
                    etl_s = min(r[0] for r in runs)
                    peak_mb = max(r[1] for r in runs) / 1024
                    assert all(r[2]["rows"] == n for r in runs), runs
                    ratio = base_s / etl_s
                    results[fmt, n] = (ratio, round(peak_mb))
                    print(
                        f"{'':>16}{fmt:<8} --parallel {opts.parallel}: {n / etl_s:>9,.0f} rows/s "
                        f"({etl_s:.2f}s, {int(runs[0][2]['bytes']) / 1e6:.1f} MB) | "
                        f"ratio {ratio:.2f} | peak RSS {peak_mb:.0f} MB"
                    )

            def label(n: int) -> str:
                return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"

            print()
            print("| format | " + " | ".join(f"ratio {label(n)}" for n in sizes) + " | "
                  + " | ".join(f"RSS {label(n)}" for n in sizes) + " |")  # fmt: skip
            print("|---" * (1 + 2 * len(sizes)) + "|")
            for fmt in formats:
                ratios = " | ".join(f"{results[fmt, n][0]:.2f}" for n in sizes)
                rss = " | ".join(f"{results[fmt, n][1]} MB" for n in sizes)
                print(f"| {fmt} | {ratios} | {rss} |")
            print()
            for fmt in formats:
                rss = ", ".join(f"{results[fmt, n][1]} MB at {label(n)}" for n in sizes)
                print(
                    f"etl_throughput {fmt}: ratio {results[fmt, opts.rows][0]:.2f} "
                    f"({label(opts.rows)} rows), peak RSS {rss}"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
