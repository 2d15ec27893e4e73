"""hybrid-airflow's residency and security policies, importable without starting a pack.

`policies/__main__.py` is the only module that constructs the PolicyPack (which serves
forever); hybridctl and the tests import from here.
"""

from hybrid_policies.adapter import Observer, Outcome, build_policies, enforcement_level
from hybrid_policies.catalog import BY_NAME, POLICIES, POLICY_NAMES, PolicySpec
from hybrid_policies.config import (
    PolicyConfig,
    PolicyConfigError,
    ResidencyTag,
    Waiver,
    load_config,
    parse_config,
)
from hybrid_policies.context import RuleContext
from hybrid_policies.locate import CONFIG_ENV, PACK_DIR, config_path

__all__ = [
    "BY_NAME",
    "CONFIG_ENV",
    "PACK_DIR",
    "POLICIES",
    "POLICY_NAMES",
    "Observer",
    "Outcome",
    "PolicyConfig",
    "PolicyConfigError",
    "PolicySpec",
    "ResidencyTag",
    "RuleContext",
    "Waiver",
    "build_policies",
    "config_path",
    "enforcement_level",
    "load_config",
    "parse_config",
]
