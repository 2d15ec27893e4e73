"""``python -m etl``: the container's entrypoint."""

from etl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
