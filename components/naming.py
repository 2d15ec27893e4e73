"""Names and tags: every resource name is derived from the environment and the site."""

from __future__ import annotations

from dataclasses import dataclass

CONTAINER_NAME = "etl"
LOG_STREAM_PREFIX = "etl"
# The lake prefix Athena writes query results to. Site prefixes are DNS labels, which start with
# a letter, so no site's prefix (or task role) can be this one.
ATHENA_RESULTS_PREFIX = "_athena/"
MANIFEST_KEY = "sites-manifest.json"
NETWORK_KEY = "sites-network.json"
PROJECT = "hybrid-airflow"
SITE_COMPONENT = "hybrid:platform:Site"

# What follows `hybrid-<env>-<site>-` in the names of a site's resources (components/site.py).
# Config validation refuses two sites whose names would collide through them.
SITE_RESOURCE_SUFFIXES = (
    "logs",
    "db",
    "secrets",
    "exec",
    "task",
    "etl",
    "agent",
    "agent-ssm",
    "agent-ecs",
    "activation",
    "hosts",
    "catalog",
)


@dataclass(frozen=True)
class Naming:
    environment: str

    @property
    def prefix(self) -> str:
        return f"hybrid-{self.environment}"

    def shared(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def site(self, site: str, what: str | None = None) -> str:
        if what is not None and what not in SITE_RESOURCE_SUFFIXES:
            raise ValueError(f"{what!r} is not in SITE_RESOURCE_SUFFIXES")
        return f"{self.prefix}-{site}" + (f"-{what}" if what else "")

    def task_family(self, site: str) -> str:
        return self.site(site, "etl")

    def log_group(self, site: str) -> str:
        return f"/hybrid/{self.environment}/{site}/etl"

    def secret(self, site: str) -> str:
        return f"hybrid/{self.environment}/{site}/db"

    def glue_database(self, site: str) -> str:
        """`hybrid_<env>_<site>`: Glue and Athena names are lowercase with underscores.

        One-to-one: site names and environments are DNS labels, which never contain `_`.
        """
        return f"hybrid_{self.environment}_{site}".replace("-", "_")

    @property
    def athena_workgroup(self) -> str:
        return self.prefix

    def lake_bucket(self, account_id: str, region: str) -> str:
        """`hybrid-<env>-lake-<account>-<region>`: S3 names are global, so the account and
        region make it unique; at most 52 characters (S3 allows 63)."""
        return f"{self.prefix}-lake-{account_id}-{region}"

    def dag_bucket(self, account_id: str, region: str) -> str:
        """`airflow-hybrid-<env>-dags-<account>-<region>`: MWAA accepts only source buckets
        whose name starts with `airflow-`; at most 60 characters."""
        return f"airflow-{self.prefix}-dags-{account_id}-{region}"

    def key_alias(self, what: str) -> str:
        """The alias of a shared key (`lake`, `mwaa`): IAM documents name keys by alias."""
        return f"alias/{self.shared(what)}"

    def site_key_alias(self, site: str) -> str:
        """The alias of a regulated site's own key (its DB secret's)."""
        return f"alias/{self.site(site, 'secrets')}"

    def shared_cluster(self, region: str, platform_region: str) -> str:
        """The shared cluster of a region; the platform region's keeps the short name."""
        return self.shared("shared" if region == platform_region else f"shared-{region}")

    def tags(
        self,
        *,
        site: str | None = None,
        residency: str | None = None,
        purpose: str | None = None,
    ) -> dict[str, str]:
        """The tags policies and cost reports rely on: environment, and site/residency per site."""
        tags = {"environment": self.environment, "managed-by": "hybrid-airflow"}
        if site:
            tags["site"] = site
        if residency:
            tags["residency"] = residency
        if purpose:
            tags["purpose"] = purpose
        return tags


def iam_sid(name: str) -> str:
    """An IAM statement id part from a DNS-style name: `plant-ohio` -> `PlantOhio`."""
    return "".join(part.title() for part in name.split("-"))


def engine_urn(stack: str, type_chain: str, name: str) -> str:
    """A URN as the Pulumi engine writes it (components directly under the stack)."""
    return f"urn:pulumi:{stack}::{PROJECT}::{type_chain}::{name}"


def site_child_urn(stack: str, resource_type: str, name: str) -> str:
    return engine_urn(stack, f"{SITE_COMPONENT}${resource_type}", name)


def placement_constraints(site: str) -> list[dict[str, str]]:
    """Pins a task to hosts registered with `ECS_INSTANCE_ATTRIBUTES={"site": "<site>"}`."""
    return [{"type": "memberOf", "expression": f"attribute:site == {site}"}]
