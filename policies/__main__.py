"""The policy pack the Pulumi CLI runs: `pulumi preview --policy-pack policies`.

The only module that constructs `PolicyPack` (which starts a gRPC server and serves until the
engine is done). The policy config is $HYBRID_POLICY_CONFIG or config.<stack>.json beside this
file; without one the pack refuses to start rather than guess which regions are allowed.
"""

import os
import sys

from pulumi_policy import PolicyPack

from hybrid_policies import (
    CONFIG_ENV,
    POLICY_NAMES,
    PolicyConfigError,
    RuleContext,
    build_policies,
    config_path,
    load_config,
)

stack = os.environ.get("PULUMI_STACK")
path = config_path(stack)
if path is None:
    sys.exit(
        f"hybrid-residency: no policy config for stack {stack or '(unknown)'}: set {CONFIG_ENV} "
        "to a config file, or add policies/config.<stack>.json"
    )
try:
    config = load_config(path, POLICY_NAMES)
except PolicyConfigError as error:
    sys.exit(f"hybrid-residency: invalid policy config {error}")

PolicyPack(
    name="hybrid-residency",
    description="Data residency and security baseline of hybrid-airflow stacks.",
    policies=build_policies(RuleContext(config)),
)
