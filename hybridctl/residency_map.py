"""The residency map: sites -> the clusters and hosts that process their data -> regions -> the
lake prefixes and keys that store it, coloured by residency.

Every edge is derived from the captured resources, never drawn from a claim:
- site -> cluster: a principal of the stack may `ecs:RunTask`/`StartTask` one of the site's task
  definitions on that cluster (the pack's IAM evaluator, `ecs:cluster` conditions included), or
  one of the site's services runs there;
- site -> hosts: the site's task definitions run on EXTERNAL capacity (its ECS Anywhere
  activation) or on AWS Fargate; hosts -> cluster: the activation's role may register container
  instances into the cluster, or the site's Fargate tasks may run on it;
- cluster -> region: the cluster's region;
- site -> lake prefix: the site's ETL task role may `s3:PutObject` there; prefix -> region: the
  bucket's region; prefix -> key: the bucket's SSE-KMS key.
The sites manifest and the stack config are not read: they are what the program says, the
resources and their policies are what AWS enforces.

Laid out by Graphviz (`dot`) through its Python package and embedded in the HTML report as SVG.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import graphviz

from hybrid_policies.evaluation import Evaluation
from hybrid_policies.iam import TargetIndex
from hybrid_policies.rules import ACTIVATION, CLUSTER, SERVICE, TASK_DEFINITION, TASK_SET
from hybrid_policies.rules.access import cluster_arn, task_definition_arn
from hybrid_policies.views import StackResource, as_list
from hybridctl.storage_view import (
    aliases_of,
    bucket_key,
    bucket_name,
    holders,
    role_of,
    site_task_definitions,
    site_writes,
)

RUN_ACTIONS = ("ecs:RunTask", "ecs:StartTask")
REGISTER_ACTION = "ecs:RegisterContainerInstance"

REGULATED, STANDARD, UNKNOWN, SHARED = "regulated", "standard", "unknown", "shared"
# Fill, border: readable on screen and in print (colour-blind safe: orange vs blue).
COLOURS = {
    REGULATED: ("#fde0c5", "#b35806"),
    STANDARD: ("#dbe7f5", "#2c5d9b"),
    UNKNOWN: ("#ece2f0", "#6a3d9a"),
    SHARED: ("#eeeeee", "#555555"),
}
OUTSIDE = "#c51b1b"  # an edge leaving the site's allowed regions; a violating site's border


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # site | cluster | hosts | region | prefix | key
    label: str
    residency: str  # regulated | standard | unknown | shared
    sites: tuple[str, ...]  # the sites whose data reaches it
    violating: bool = False
    note: str = ""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    relation: str  # "runs on", "hosts", "joins", "in", "writes", "stored in", "encrypted with"
    site: str
    residency: str
    evidence: str  # the resource or statement it is derived from
    outside_allowed: bool = False


@dataclass
class ResidencyMap:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def edges_of(self, site: str) -> list[Edge]:
        return [e for e in self.edges if e.site == site]


class _Builder:
    def __init__(self, ev: Evaluation, violating: set[str]) -> None:
        self.ev = ev
        self.violating = violating
        self.map = ResidencyMap()
        self._ids: dict[tuple[str, str], str] = {}
        self._node_sites: dict[str, set[str]] = defaultdict(set)
        self._labels: dict[str, tuple[str, str, str]] = {}  # id -> kind, label, note
        self._edges: dict[tuple[str, str, str, str], Edge] = {}

    def residency(self, site: str) -> str:
        entry = self.ev.config.site(site)
        if entry is None:
            return REGULATED if site in self.ev.regulated_sites else UNKNOWN
        return REGULATED if site in self.ev.regulated_sites else STANDARD

    def add_node(self, kind: str, key: str, label: str, note: str = "") -> str:
        ident = self._ids.get((kind, key))
        if ident is None:
            ident = f"{kind}-{len(self._ids) + 1}"  # never a name: names are not trusted
            self._ids[(kind, key)] = ident
            self._labels[ident] = (kind, label, note)
        return ident

    def add_edge(
        self,
        site: str,
        source: str,
        target: str,
        relation: str,
        evidence: str,
        outside: bool = False,
    ) -> None:
        self._node_sites[source].add(site)
        self._node_sites[target].add(site)
        key = (site, source, target, relation)
        if key in self._edges:
            old = self._edges[key]
            if evidence not in old.evidence.split("; "):
                self._edges[key] = Edge(
                    source,
                    target,
                    relation,
                    site,
                    old.residency,
                    f"{old.evidence}; {evidence}",
                    old.outside_allowed or outside,
                )
            return
        self._edges[key] = Edge(
            source, target, relation, site, self.residency(site), evidence, outside
        )

    def region_node(self, region: object) -> str:
        shown = region if isinstance(region, str) else "region unknown until apply"
        return self.add_node("region", shown, shown)

    # --- what each site's data goes through ----------------------------------------------

    def clusters(self) -> list[tuple[StackResource, str]]:
        return [(c, arn) for c in self.ev.of_type(CLUSTER) if (arn := cluster_arn(self.ev, c))]

    def cluster_node(self, cluster: StackResource) -> str:
        name = cluster.get("name")
        shown = name if isinstance(name, str) else cluster.name
        region = cluster.region if isinstance(cluster.region, str) else "?"
        return self.add_node("cluster", cluster.urn, f"ECS cluster {shown}\n{region}")

    def run_grants(self) -> dict[tuple[str, str], set[str]]:
        """(task definition URN, cluster URN) -> who may RunTask/StartTask it there, and by
        which statement: each statement asked only about the task definitions its Resource
        reaches, every grant confirmed against the principal's Deny statements."""
        key = "hybridctl:run-grants"
        ev = self.ev
        if key in ev.cache:
            cached: dict[tuple[str, str], set[str]] = ev.cache[key]
            return cached
        index = TargetIndex(
            [
                (arn, td)
                for td in ev.of_type(TASK_DEFINITION)
                if (arn := task_definition_arn(ev, td))
            ]
        )
        clusters = self.clusters()
        found: dict[tuple[str, str], set[str]] = defaultdict(set)
        for action in RUN_ACTIONS:
            for principal in holders(ev, action):
                denies = any(s.effect == "Deny" for s in principal.permissions.statements)
                for statement in principal.permissions.action_statements(action):
                    if statement.effect != "Allow":
                        continue
                    for td_arn, td in index.reached_by(statement):
                        for cluster, c_arn in clusters:
                            context = {"ecs:cluster": [c_arn]}
                            if statement.applies(action, td_arn, context) is False:
                                continue
                            if denies and statement not in principal.permissions.grants(
                                action, td_arn, context
                            ):
                                continue
                            found[(td.urn, cluster.urn)].add(
                                f"{principal.label}: {statement.label}"
                            )
        ev.cache[key] = found
        return found

    def compute(self, site: str, site_node: str) -> None:
        ev = self.ev
        allowed = set(ev.config.regions_for(site))
        clusters = self.clusters()
        tds = site_task_definitions(ev, site)
        for td in tds:
            compatibilities = [str(c) for c in as_list(td.get("requiresCompatibilities"))]
            ran_on: list[StackResource] = []
            runs = self.run_grants()
            for cluster, _ in clusters:
                granted = runs.get((td.urn, cluster.urn), set())
                if granted:
                    ran_on.append(cluster)
                    self.add_edge(
                        site,
                        site_node,
                        self.cluster_node(cluster),
                        "runs on",
                        f"task definition {td.name} may be run there by "
                        + ", ".join(sorted(set(granted))),
                    )
            if "FARGATE" in compatibilities:
                region = td.region if isinstance(td.region, str) else "?"
                hosts = self.add_node(
                    "hosts", f"fargate:{region}", f"AWS Fargate\n(AWS-managed hosts, {region})"
                )
                self.add_edge(
                    site,
                    site_node,
                    hosts,
                    "hosts",
                    f"task definition {td.name} requires {compatibilities}",
                )
                for cluster in ran_on:
                    self.add_edge(
                        site,
                        hosts,
                        self.cluster_node(cluster),
                        "capacity of",
                        f"{td.name} (FARGATE) may run on this cluster",
                    )
        for service in [r for r, _ in ev.members(site) if r.type in (SERVICE, TASK_SET)]:
            for cluster, _ in clusters:
                if cluster.urn in service.depends_on("cluster") or service.get("cluster") in (
                    cluster.get("name"),
                    cluster.get("arn"),
                ):
                    self.add_edge(
                        site,
                        site_node,
                        self.cluster_node(cluster),
                        "runs on",
                        f"{service.type.rsplit(':', 1)[-1]} {service.name} runs there",
                    )
        for activation in ev.of_type(ACTIVATION):
            if ev.declared_site(activation) != site:
                continue
            limit = activation.get("registrationLimit")
            limit_text = f"up to {int(limit)} host(s)" if isinstance(limit, int | float) else ""
            hosts = self.add_node(
                "hosts",
                activation.urn,
                f"ECS Anywhere hosts of {site}\n{limit_text}".rstrip(),
                note=f"activation {activation.name}",
            )
            self.add_edge(
                site, site_node, hosts, "hosts", f"SSM activation {activation.name} of the site"
            )
            role = role_of(ev, activation, "iamRole")
            for cluster, c_arn in clusters:
                statements = role.permissions.grants(REGISTER_ACTION, c_arn) if role else []
                if statements:
                    self.add_edge(
                        site,
                        hosts,
                        self.cluster_node(cluster),
                        "join",
                        f"{role.label if role else ''} may {REGISTER_ACTION} ("
                        + ", ".join(s.label for s in statements)
                        + ")",
                    )
        for edge in list(self._edges.values()):
            if edge.site == site and edge.relation in ("runs on", "join", "capacity of"):
                target = next(
                    (c for c, _ in clusters if self._ids.get(("cluster", c.urn)) == edge.target),
                    None,
                )
                if target is not None:
                    region = target.region
                    self.add_edge(
                        site,
                        edge.target,
                        self.region_node(region),
                        "in",
                        f"cluster {target.name}'s region",
                        outside=isinstance(region, str) and region not in allowed,
                    )

    def storage(self, site: str, site_node: str) -> None:
        ev = self.ev
        allowed = set(ev.config.regions_for(site))
        for td, write in site_writes(ev, site):
            bucket = write.bucket
            uri = f"s3://{bucket_name(bucket)}/{write.prefix}"
            prefix = self.add_node("prefix", uri, f"lake prefix\n{uri}")
            self.add_edge(
                site,
                site_node,
                prefix,
                "writes",
                f"{write.principal.label} (task role of {td.name}) may s3:PutObject "
                f"({write.statement.label})",
            )
            region = bucket.region
            self.add_edge(
                site,
                prefix,
                self.region_node(region),
                "stored in",
                f"bucket {bucket_name(bucket)}'s region",
                outside=isinstance(region, str) and region not in allowed,
            )
            key, words = bucket_key(ev, bucket)
            if key is not None:
                alias = next(iter(aliases_of(ev, key)), key.name)
                region_text = key.region if isinstance(key.region, str) else "?"
                node = self.add_node("key", key.urn, f"KMS key {alias}\n{region_text}")
                self.add_edge(site, prefix, node, "encrypted with", f"bucket encryption: {words}")
            else:
                node = self.add_node("key", f"none:{words}", words)
                self.add_edge(site, prefix, node, "encrypted with", "bucket encryption")

    def build(self) -> ResidencyMap:
        for site in self.ev.built_sites:
            count = len(self.ev.config.regions_for(site))
            site_node = self.add_node(
                "site",
                site,
                f"site {site}\n{self.residency(site)}",
                note=f"{count} allowed region(s)",
            )
            self._node_sites[site_node].add(site)
            self.compute(site, site_node)
            self.storage(site, site_node)
        for ident, (kind, label, note) in self._labels.items():
            sites = tuple(sorted(self._node_sites.get(ident, set())))
            residencies = {self.residency(s) for s in sites}
            residency = residencies.pop() if len(residencies) == 1 else SHARED
            shown = label
            violating = kind == "site" and bool(set(sites) & self.violating)
            if kind != "site" and len(sites) > 1:
                shown = f"{label}\nshared by {', '.join(sites)}"
            if violating:
                shown = f"{label}\nVIOLATION"
            self.map.nodes[ident] = Node(ident, kind, shown, residency, sites, violating, note)
        self.map.edges = sorted(
            self._edges.values(), key=lambda e: (e.site, e.source, e.target, e.relation)
        )
        return self.map


def build_map(ev: Evaluation, violating: Iterable[str] = ()) -> ResidencyMap:
    """The map of the captured stack; `violating` sites are marked."""
    return _Builder(ev, set(violating)).build()


# --- drawing ---------------------------------------------------------------------------------

RANKS = {"site": 0, "hosts": 1, "cluster": 2, "region": 3, "prefix": 4, "key": 5}
SHAPES = {
    "site": "box",
    "hosts": "component",
    "cluster": "box3d",
    "region": "ellipse",
    "prefix": "folder",
    "key": "note",
}


def _text(value: str) -> str:
    """A label Graphviz shows literally: its escString sequences (backslashes) and HTML-like
    `<...>` labels disabled by `graphviz.escape`, and `&` written as an entity, because dot
    passes anything that looks like an entity (`&amp;`, `&#60;`) through to the SVG as markup."""
    return graphviz.escape(value.replace("&", "&amp;"))


def to_dot(residency_map: ResidencyMap) -> graphviz.Digraph:
    """A `graphviz.Digraph` of the map (every label escaped: names are not trusted)."""
    graph = graphviz.Digraph(
        "residency",
        graph_attr={
            "rankdir": "LR",
            "fontname": "Helvetica",
            "nodesep": "0.25",
            "ranksep": "0.7",
            "bgcolor": "transparent",
        },
        node_attr={"fontname": "Helvetica", "fontsize": "11", "style": "filled,rounded"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "arrowsize": "0.7"},
    )
    for rank in sorted(set(RANKS.values())):
        with graph.subgraph() as same:
            same.attr(rank="same")
            for node in residency_map.nodes.values():
                if RANKS.get(node.kind) == rank:
                    _draw_node(same, node)
    for edge in residency_map.edges:
        _fill, colour = COLOURS[edge.residency]
        attrs = {
            "color": OUTSIDE if edge.outside_allowed else colour,
            "fontcolor": OUTSIDE if edge.outside_allowed else colour,
            "style": "dashed" if edge.outside_allowed else "solid",
            "penwidth": "2" if edge.outside_allowed else "1.3",
            "class": "edge-outside" if edge.outside_allowed else f"edge-{edge.residency}",
        }
        label = edge.relation + (" (outside allowed regions)" if edge.outside_allowed else "")
        graph.edge(
            edge.source,
            edge.target,
            label=_text(label),
            tooltip=_text(f"{edge.site}: {edge.evidence}"),
            **attrs,
        )
    return graph


def _draw_node(graph: graphviz.Digraph, node: Node) -> None:
    fill, border = COLOURS[node.residency]
    classes = [node.kind, node.residency, *(["violating"] if node.violating else [])]
    style = "filled,rounded" if node.kind in ("site", "hosts") else "filled"
    graph.node(
        node.id,
        label=_text(node.label),
        shape=SHAPES.get(node.kind, "box"),
        fillcolor=fill,
        color=OUTSIDE if node.violating else border,
        penwidth="3" if node.violating else "1.2",
        style=style,
        tooltip=_text(node.note or node.label),
        **{"class": " ".join(classes)},
    )


XML_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?(<!--.*?-->\s*)*", re.DOTALL)


def to_svg(residency_map: ResidencyMap) -> str:
    """The map as an inline `<svg>` element (no XML prolog), scaled by CSS, not points."""
    graph = to_dot(residency_map)
    svg: str = graph.pipe(format="svg", encoding="utf-8")
    svg = XML_PROLOG.sub("", svg)
    return re.sub(r'<svg width="[^"]*" height="[^"]*"', '<svg role="img"', svg, count=1)
