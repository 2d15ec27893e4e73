"""``python -m etl``: the container's entrypoint.

The stop signals are taken over first, before the imports that take most of the start-up
time, so a SIGTERM during start-up is handled like any other (see ``etl.stop``)."""

import os
import sys

from etl.stop import StopRequest

STOP = StopRequest().install(wakeup=True)

from etl.memory import tune_allocators  # noqa: E402

tune_allocators()  # before any thread starts, before pyarrow

from etl.cli import main  # noqa: E402

if __name__ == "__main__":
    code = main(stop=STOP)
    sys.stdout.flush()
    sys.stderr.flush()
    # A helper thread left stuck in an S3 call after a stop must not hold the exit up.
    os._exit(code)
