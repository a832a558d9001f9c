"""Delta: responses carry only what changed, and removals by name.

Each stream therefore keeps private ``sent`` and ``acked`` dicts, and
remembers every response until its ACK (an ACK applies exactly the
resources that response carried). A reconnecting proxy reports the versions
it already holds; those that match the snapshot are not sent again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from .resources import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    WILDCARD_TYPES,
    Resource,
    Selection,
    Snapshot,
    encode_bytes_field,
    encode_str_field,
)
from .status import Mode
from .stream import Stream
from .subscription import Inflight, Request, Subscription, is_nack


class DeltaStream(Stream):
    mode: Mode = "delta"

    def handle(self, request: Request) -> None:
        type_url = str(request.type_url)
        if not type_url:
            return
        state = self.types.get(type_url)
        if state is None:
            state = self._new_type(type_url)
            state.sent = {}
            state.acked = {}
            state.wildcard = type_url in WILDCARD_TYPES and not request.resource_names_subscribe
            state.foreign = dict(request.initial_resource_versions)
        sent, acked = self._own(state)
        names = set(state.names)
        for name in request.resource_names_subscribe:
            if name == "*":
                state.wildcard = True
                continue
            names.add(name)
            # Subscribing to a name again asks for it again (a changed cluster warming
            # wants its endpoints): forget it was sent, so the next response carries it.
            sent.pop(name, None)
            state.absent.discard(name)
        for name in request.resource_names_unsubscribe:
            if name == "*":
                state.wildcard = False
                continue
            names.discard(name)
            state.absent.discard(name)
            if not state.wildcard:
                sent.pop(name, None)
                acked.pop(name, None)
                state.foreign.pop(name, None)
        state.names = frozenset(names)
        nonce = str(request.response_nonce)
        inflight = state.answered(nonce) if nonce else None
        if inflight is None:
            return
        if is_nack(request):
            self._record_nack(state, inflight.version, nonce, str(request.error_detail.message))
            return
        for resource in inflight.updated:
            if state.subscribed(resource.name):
                acked[resource.name] = resource
        for name in inflight.removed:
            acked.pop(name, None)
        self._record_ack(state, inflight.version, acked)

    @staticmethod
    def _own(state: Subscription) -> tuple[dict[str, Resource], dict[str, Resource]]:
        sent, acked = state.sent, state.acked
        assert isinstance(sent, dict) and isinstance(acked, dict)
        return sent, acked

    def _respond(self, state: Subscription, desired: Selection, snapshot: Snapshot) -> bytes | None:
        sent, acked = self._own(state)
        if state.foreign:
            self._adopt_foreign(state, snapshot, sent, acked)
        updated = [
            desired.resources[name]
            for name in sorted(desired.resources)
            if (held := sent.get(name)) is None or held.version != desired.resources[name].version
        ]
        removed = sorted(
            name for name in itertools.chain(sent, state.foreign) if name not in desired.resources
        )
        available = snapshot.resources(state.type_url)
        absent = sorted(
            name
            for name in state.names
            if name not in available
            and name not in desired.resources
            and name not in sent
            and name not in state.absent
        )
        if not (updated or removed or absent or state.reply_due):
            return None
        nonce = self._next_nonce()
        if state.type_url == CLUSTER_TYPE:
            self._resend_endpoints_of(resource for resource in updated if resource.name in sent)
        for resource in updated:
            sent[resource.name] = resource
            state.foreign.pop(resource.name, None)
            state.absent.discard(resource.name)
        for name in removed:
            sent.pop(name, None)
            state.foreign.pop(name, None)
        state.absent.update(absent)
        body = b"".join(
            [
                encode_str_field(1, desired.version),
                *(resource.delta_entry for resource in updated),
                encode_str_field(4, state.type_url),
                encode_str_field(5, nonce),
                *(encode_bytes_field(6, name.encode()) for name in (*removed, *absent)),
            ]
        )
        state.expect(nonce, Inflight(desired.version, tuple(updated), tuple(removed)))
        self._record_send(state, desired.version, nonce, len(updated) + len(removed))
        return body

    def _resend_endpoints_of(self, changed: Iterable[Resource]) -> None:
        """Have the endpoints of changed clusters sent again, after the clusters.

        Envoy warms a changed cluster as a new one that waits for its endpoints,
        but over Delta it does not subscribe again to names it already has: without
        a fresh copy the cluster would warm only at Envoy's initial fetch timeout.
        """
        eds = self.types.get(ENDPOINT_TYPE)
        if eds is None:
            return
        sent, _ = self._own(eds)
        for cluster in changed:
            for name in cluster.refs_of(ENDPOINT_TYPE):
                sent.pop(name, None)

    @staticmethod
    def _adopt_foreign(
        state: Subscription,
        snapshot: Snapshot,
        sent: dict[str, Resource],
        acked: dict[str, Resource],
    ) -> None:
        """Recognise resources a reconnecting proxy already holds at our version."""
        available = snapshot.resources(state.type_url)
        for name, version in list(state.foreign.items()):
            resource = available.get(name)
            if resource is not None and resource.version == version:
                sent[name] = resource
                acked[name] = resource
                del state.foreign[name]


__all__ = ["DeltaStream"]
