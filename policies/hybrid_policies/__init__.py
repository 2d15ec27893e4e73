"""hybrid-airflow's residency and security policies, importable without starting a pack.

`policies/__main__.py` is the only module that serves the pack (it blocks); hybridctl, the
benchmarks and the tests import from here.
"""

from hybrid_policies.adapter import (
    EvaluationSession,
    EvidenceObserver,
    Examined,
    Observer,
    Outcome,
    build_policies,
    compliance_levels,
    enforcement_level,
)
from hybrid_policies.catalog import (
    BY_NAME,
    POLICIES,
    POLICY_NAMES,
    PolicySpec,
    ResourcePolicySpec,
    StackPolicySpec,
)
from hybrid_policies.config import (
    PolicyConfig,
    PolicyConfigError,
    ResidencyTag,
    SiteEntry,
    Waiver,
    WaiverRules,
)
from hybrid_policies.context import RuleContext
from hybrid_policies.locate import (
    CONFIG_ENV,
    PACK_DIR,
    ConfigNotFound,
    config_path,
    load_config,
    parse_config,
    resolve_config,
)
from hybrid_policies.server import build_servicer, lowered_levels, serve

__all__ = [
    "BY_NAME",
    "CONFIG_ENV",
    "PACK_DIR",
    "POLICIES",
    "POLICY_NAMES",
    "ConfigNotFound",
    "EvaluationSession",
    "EvidenceObserver",
    "Examined",
    "Observer",
    "Outcome",
    "PolicyConfig",
    "PolicyConfigError",
    "PolicySpec",
    "ResidencyTag",
    "ResourcePolicySpec",
    "RuleContext",
    "SiteEntry",
    "StackPolicySpec",
    "Waiver",
    "WaiverRules",
    "build_policies",
    "build_servicer",
    "compliance_levels",
    "config_path",
    "enforcement_level",
    "load_config",
    "lowered_levels",
    "parse_config",
    "resolve_config",
    "serve",
]
