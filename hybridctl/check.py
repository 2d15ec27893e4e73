"""`hybridctl check`: placeholder until the policy pack's API lands (see issue 4)."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("check", help="(not yet available)")
    parser.set_defaults(handler=lambda args, out: 2)
