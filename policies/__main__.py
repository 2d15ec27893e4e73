"""The policy pack the Pulumi CLI runs: `pulumi preview --policy-pack policies`.

The engine starts it as `python -m pulumi.policy <engine> <pack dir>` with the pack folder as
working directory. The policy config is found as hybrid_policies/locate.py says
($HYBRID_POLICY_CONFIG, else config.<stack>.json); without one the pack refuses to start rather
than guess who is regulated. The only module that serves (it blocks until the engine is done).
"""

import sys

from hybrid_policies import (
    ConfigNotFound,
    EvaluationSession,
    PolicyConfigError,
    RuleContext,
    build_policies,
    build_servicer,
    compliance_levels,
    load_config,
    resolve_config,
    serve,
)

try:
    config = load_config(resolve_config())
except ConfigNotFound as error:
    sys.exit(f"hybrid-residency: {error}")
except PolicyConfigError as error:
    sys.exit(
        f"hybrid-residency: invalid policy config {error.source}:\n  " + "\n  ".join(error.problems)
    )

ctx = RuleContext(config)
session = EvaluationSession(ctx)
serve(
    build_servicer(
        "hybrid-residency",
        "Data residency and security baseline of hybrid-airflow stacks.",
        build_policies(ctx, session=session),
        compliance_levels(config),
        config.source,
        on_configure=session.reset,
    )
)
