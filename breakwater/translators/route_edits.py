"""An edit that only touches HTTPRoute rules: found, checked and told apart in what it costs.

Most changes in a large mesh are a weight or a rule setting of one route: a
file edit, a weight written through the API, a Rollout's step. Everything
else a route names (its gateways, its hostnames, the services and subsets
its backends and mirrors send to) is its *shape*; while the shape of every
changed route stays the same, no name, reference or hostname check can come
out otherwise, and no cluster, endpoint set or listener changes: only the
changed routes' merged policies are checked again (`validate.recheck_routes`)
and their virtual hosts translated again (`snapshot.Translator`). Anything
else (another kind changed, a document added, removed or refused, a Gateway
API document, a new shape) takes the whole path, which is what these
shortcuts are tested against (`tests/controlplane/test_incremental.py`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from breakwater.translators.documents import Changes, RawDocument, other_positions
from breakwater.translators.kinds import AnyDocument
from breakwater.translators.policyset import PolicySet, SourceRef
from breakwater.translators.route_model import HTTPRoute

FULL_CHECK_EVERY = 256
"""After this many edits checked the short way, one is checked the whole way: a merge is
remembered by its layers, and the whole way is what forgets the merges of rules gone."""


def route_shape(route: HTTPRoute) -> Hashable:
    """What of a route other documents and other pieces depend on (its rules' own settings,
    weights included, are not part of it)."""
    spec = route.spec
    return (
        tuple(spec.gateways),
        tuple(spec.services),
        tuple(spec.hostnames),
        tuple(
            (
                tuple((b.service, b.subset) for b in rule.backends),
                None if rule.mirror is None else (rule.mirror.service, rule.mirror.subset),
            )
            for rule in spec.rules
        ),
    )


def changed_routes(before: PolicySet, after: PolicySet) -> list[str] | None:
    """The routes of `after` that are other objects than `before`'s, all of the same shape;
    None when anything else may differ (then every piece is looked at again).

    The other documents must be the very same mappings, which they are when `after` was
    laid over the same files (`with_routes`, `with_route_documents`); drains, header
    previews and Gateway API state are small and compared by value.
    """
    if (
        after.services is not before.services
        or after.policies is not before.policies
        or after.gateways is not before.gateways
        or after.telemetry is not before.telemetry
        or after.rollouts is not before.rollouts
        or after.previews != before.previews
        or after.drained != before.drained
        or after.gateway_api != before.gateway_api
        or after.gateway_api.gateways
        or len(after.routes) != len(before.routes)
    ):
        return None
    names, routes = list(after.routes), list(after.routes.values())
    if names == list(before.routes):  # the same names in the same order: compared in C
        before_routes = list(before.routes.values())
        candidates = [names[at] for at in other_positions(routes, before_routes)]
    else:
        candidates = names
    changed: list[str] = []
    for name in candidates:
        route, old = after.routes[name], before.routes.get(name)
        if old is route:
            continue
        if old is None or route_shape(old) != route_shape(route):
            return None
        changed.append(name)
    return changed


@dataclass
class Checked:
    """The last set that passed every check, and what it was read from."""

    documents: list[tuple[AnyDocument, RawDocument]]
    policyset: PolicySet
    raws: dict[tuple[str, str], RawDocument]
    short_checks: int = 0
    read: int = -1
    """The reader's number of the read `documents` are (`Changes.read`); -1: not known."""


@dataclass(frozen=True)
class RouteEdit:
    """Documents read again where only routes changed (by shape, none): what they make."""

    policyset: PolicySet
    raws: dict[tuple[str, str], RawDocument]
    changed: list[str]


def route_edit(
    last: Checked,
    documents: Sequence[tuple[AnyDocument, RawDocument]],
    changes: Changes | None = None,
) -> RouteEdit | None:
    """The set `documents` make, when they are `last`'s but for HTTPRoutes of the same shape
    (and documents that only moved in their files); None otherwise.

    `changes`, relative to `last`'s read, says where to look; without, every position is.
    An edit takes `last` over: its `raws` (one per document, 30 000 at 10 000 services) are
    updated in place, not copied, so `last` must not be used again (the reader replaces it
    whatever comes of the edit)."""
    if len(documents) != len(last.documents) or last.short_checks >= FULL_CHECK_EVERY:
        return None
    positions = (
        other_positions(documents, last.documents)
        if changes is None
        else changes.positions(documents, last.documents)
    )
    base = last.policyset
    routes: dict[str, HTTPRoute] | None = None
    moved: list[tuple[AnyDocument, RawDocument]] = []
    changed: list[str] = []
    for at in positions:
        (doc, raw), (old, old_raw) = documents[at], last.documents[at]
        if doc is old:
            if raw is not old_raw:
                moved.append((doc, raw))
            continue
        if (
            type(doc) is not HTTPRoute
            or type(old) is not HTTPRoute
            or doc.name != old.name
            or raw.origin is not None
            or route_shape(doc) != route_shape(old)
        ):
            return None
        if routes is None:
            routes = dict(base.routes)
        routes[doc.name] = doc
        changed.append(doc.name)
        moved.append((doc, raw))
    raws = last.raws
    sources: Mapping[tuple[str, str], SourceRef] = base.sources
    located: dict[tuple[str, str], SourceRef] | None = None
    for doc, raw in moved:
        key = (type(doc).__name__, doc.name)
        raws[key] = raw
        place = SourceRef(raw.file, raw.line)
        if sources.get(key) != place:  # an edit within a document leaves it where it was
            if located is None:
                located = dict(base.sources)
            located[key] = place
    if located is not None:
        sources = located
    policyset = base.with_route_documents(
        base.routes if routes is None else routes, sources, changed
    )
    return RouteEdit(policyset, raws, changed)


__all__ = [
    "FULL_CHECK_EVERY",
    "Checked",
    "RouteEdit",
    "changed_routes",
    "route_edit",
    "route_shape",
]
