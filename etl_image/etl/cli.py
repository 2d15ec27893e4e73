"""``python -m etl``: parse options, run, map the outcome to an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from etl.config import parse_config
from etl.errors import UsageError
from etl.log import Log
from etl.runner import run
from etl.stop import StopRequest


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stop: StopRequest | None = None,
) -> int:
    """``stop`` is installed by ``__main__`` before the heavy imports; a caller without one
    gets it installed here (this must then be the main thread)."""
    stop = stop or StopRequest().install(wakeup=True)
    log = Log()
    try:
        cfg = parse_config(sys.argv[1:] if argv is None else argv, environ or os.environ)
    except UsageError as e:
        log.error("failed", kind=e.kind, error=str(e), exit_code=e.exit_code)
        return e.exit_code
    stop.set_budget(cfg.tuning.stop_seconds)
    return run(cfg, log.bind(run_id=cfg.run_id, site=cfg.site), stop)
