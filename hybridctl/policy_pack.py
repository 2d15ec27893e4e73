"""Import the policy pack in `policies/` the way the Pulumi CLI loads it: from its own folder.

The pack is self-contained (the CLI runs it in its own virtualenv), so it is not a package of
this repository; hybridctl puts its folder on the path and imports `hybrid_policies`.
"""

from __future__ import annotations

import sys

from hybridctl.stackfile import PROJECT_DIR

PACK_DIR = PROJECT_DIR / "policies"
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))

import hybrid_policies  # noqa: E402

__all__ = ["PACK_DIR", "hybrid_policies"]
