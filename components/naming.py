"""Names and tags: every resource name is derived from the environment and the site."""

from __future__ import annotations

from dataclasses import dataclass

CONTAINER_NAME = "etl"
LOG_STREAM_PREFIX = "etl"
MANIFEST_KEY = "sites-manifest.json"
NETWORK_KEY = "sites-network.json"


@dataclass(frozen=True)
class Naming:
    environment: str

    @property
    def prefix(self) -> str:
        return f"hybrid-{self.environment}"

    def shared(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def site(self, site: str, what: str | None = None) -> str:
        return f"{self.prefix}-{site}" + (f"-{what}" if what else "")

    def task_family(self, site: str) -> str:
        return self.site(site, "etl")

    def log_group(self, site: str) -> str:
        return f"/hybrid/{self.environment}/{site}/etl"

    def secret(self, site: str) -> str:
        return f"hybrid/{self.environment}/{site}/db"

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


def placement_constraints(site: str) -> list[dict[str, str]]:
    """Pins a task to hosts registered with `ECS_INSTANCE_ATTRIBUTES={"site": "<site>"}`."""
    return [{"type": "memberOf", "expression": f"attribute:site == {site}"}]
