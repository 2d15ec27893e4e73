"""``python -m etl``: parse options, run, map the outcome to an exit code."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence

from etl.config import parse_config
from etl.errors import Terminated, UsageError
from etl.log import Log
from etl.runner import run


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    log = Log()
    try:
        cfg = parse_config(sys.argv[1:] if argv is None else argv, environ or os.environ)
    except UsageError as e:
        log.error("failed", kind=e.kind, error=str(e), exit_code=e.exit_code)
        return e.exit_code
    _raise_on_signals()
    return run(cfg, log.bind(run_id=cfg.run_id, site=cfg.site))


def _raise_on_signals() -> None:
    """SIGTERM/SIGINT become an exception in the main thread, so a stopped run still aborts
    its uploads and removes its parts (ECS sends SIGTERM, then SIGKILL 30 s later)."""

    def handler(signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_IGN)  # once is enough; let cleanup finish
        raise Terminated(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
