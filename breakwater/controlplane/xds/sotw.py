"""State of the World: every response carries the whole set of resources of its type.

The proxy ACKs or NACKs a response by echoing its nonce. A selection is
shared by the streams of a group that ask for the same names, so ``sent``
and ``acked`` are those shared mappings, never copies, and the encoded body
is built once for all of them; only the nonce is appended per stream.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable

from .ordering import SharedVerdicts
from .resources import WILDCARD_TYPES, Selection, Snapshot, encode_str_field, order_types
from .status import Mode
from .stream import Stream
from .subscription import Request, Subscription, is_nack, split_wildcard

_VERDICTS = SharedVerdicts()
"""One memory of make-before-break verdicts for every SotW stream of the process: it is keyed
by snapshot version and by the shared ACKed mappings, so groups never see each other's."""

Plan = tuple[tuple[str, str, Selection | None], ...]
"""Per type, in push order: its type URL, the snapshot's selection version (the target) and
what to send now (``None``: nothing)."""


class SharedPlans:
    """What an evaluation of a snapshot decided, for every SotW stream in the same state.

    The streams of a group subscribe alike and hold the very same sent and ACKed
    mappings (the snapshot's selections, never copied), so after a push they are in one
    state, and what each is due is one decision, not 10 000. The key is everything else
    evaluation reads: per type the subscription, the versions of the sent and ACKed
    mappings (a selection's version is a hash of its names and contents) and whether a
    reply is owed. Only plans in which nothing
    was held back are remembered: a hold depends on the clock and arms the stream's own
    timer. A snapshot's plans live as long as the snapshot does (a weak reference ends
    them with it): they never keep a replaced snapshot, and its 6 MB route configuration
    at 10 000 services, alive, and every group of a push keeps its own, however many
    groups there are.
    """

    __slots__ = ("_by_snapshot", "_per_snapshot")

    def __init__(self, per_snapshot: int = 64) -> None:
        self._per_snapshot = per_snapshot
        self._by_snapshot: dict[int, dict[Hashable, Plan]] = {}

    def get(self, snapshot: Snapshot, key: Hashable) -> Plan | None:
        bucket = self._by_snapshot.get(id(snapshot))
        return bucket.get(key) if bucket is not None else None

    def remember(self, snapshot: Snapshot, key: Hashable, plan: Plan) -> None:
        plans = self._by_snapshot.get(id(snapshot))
        if plans is None:
            # Called as the snapshot is freed, before its identity can be another's.
            plans = self._by_snapshot[id(snapshot)] = {}
            weakref.finalize(snapshot, self._by_snapshot.pop, id(snapshot), None)
        if len(plans) >= self._per_snapshot:
            plans.clear()
        plans[key] = plan

    def __len__(self) -> int:
        return sum(len(plans) for plans in self._by_snapshot.values())


_PLANS = SharedPlans()
"""One memory of plans for every SotW stream of the process (per snapshot, by identity)."""


class SotwStream(Stream):
    mode: Mode = "sotw"
    verdicts = _VERDICTS

    def handle(self, request: Request) -> None:
        type_url = str(request.type_url)
        if not type_url:
            return
        state = self.types.get(type_url)
        first = state is None
        if state is None:
            state = self._new_type(type_url)
        nonce = str(request.response_nonce)
        if nonce and state.sends and nonce != state.sent_nonce:
            return  # answers a response that has since been superseded
        wildcard, names = split_wildcard(request.resource_names)
        before = (state.wildcard, state.names)
        if type_url in WILDCARD_TYPES:
            state.wildcard = wildcard or (not names and (first or state.wildcard))
        state.names = self.registry.intern_names(names)
        if (state.wildcard, state.names) != before:
            state.reply_due = True  # a new subscription is answered, whatever the version
        if not nonce or not state.sends:
            state.reply_due = True
        elif is_nack(request):
            if state.nacked_nonce != nonce:
                message = str(request.error_detail.message)
                self._record_nack(state, state.sent_version, nonce, message)
        elif state.awaiting_ack:
            self._record_ack(state, state.sent_version, state.sent)
        elif state.nacked_nonce != nonce:
            # The response this nonce names was acknowledged already, so the proxy asks
            # again for what it holds: a changed cluster or listener warming wants its
            # endpoints or routes, and waits for them until its initial fetch timeout.
            state.reply_due = True

    def quiet(self) -> bool:
        """Nothing is due, held back or kept on any type: every type was last sent exactly
        the snapshot's selection and owes no reply.

        Then evaluating the same snapshot again sends nothing: a listener or route sent
        as selected holds nothing back, and clusters are kept only when the clusters sent
        differ from the selection (a kept one is missing from the snapshot). An ACK or a
        NACK of the latest response leaves a stream quiet; a new subscription, a request
        that asks again, or anything held makes it owe an evaluation.
        """
        for state in self.types.values():
            if (
                state.reply_due
                or state.held_since is not None
                or state.target_version != state.sent_version
            ):
                return False
        return True

    def evaluate(self, snapshot: Snapshot) -> list[bytes]:
        """Responses due now: the plan of a stream in the same state if one was made,
        each response with this stream's own nonce and bookkeeping."""
        key = self._plan_key()
        plan = _PLANS.get(snapshot, key) if key is not None else None
        if plan is None:
            plan = self._plan(snapshot)
            if key is not None and all(s.held_since is None for s in self.types.values()):
                _PLANS.remember(snapshot, key, plan)
        self.evaluated = snapshot.version
        out: list[bytes] = []
        for type_url, target, desired in plan:
            state = self.types[type_url]
            state.target_version = target
            if desired is not None:
                out.append(self._send(state, desired))
        return out

    def _plan_key(self) -> Hashable | None:
        """What evaluation reads besides the snapshot, as a key; none while anything waits on
        a hold (its timer and clock are this stream's own)."""
        key: list[Hashable] = [self.ordering_timeout]
        for type_url, state in self.types.items():
            if state.held_since is not None:
                return None
            # A State of the World stream's sent and ACKed mappings are selections: their
            # versions (hashes of names and contents) name them without holding them.
            key += (
                type_url,
                state.wildcard,
                state.names,
                state.sent_version,
                state.acked_version,
                state.reply_due,
            )
        return tuple(key)

    def _plan(self, snapshot: Snapshot) -> Plan:
        """Evaluate for real: the desired selection of every type, in push order."""
        kept = self.verdicts.kept(self.types, snapshot)
        plan: list[tuple[str, str, Selection | None]] = []
        for type_url in order_types(self.types):
            state = self.types[type_url]
            desired = self._desired(state, snapshot, kept)
            due = state.reply_due or desired.version != state.sent_version
            plan.append((type_url, state.target_version, desired if due else None))
        return tuple(plan)

    def _send(self, state: Subscription, desired: Selection) -> bytes:
        nonce = self._next_nonce()
        state.sent = desired.resources
        self._record_send(state, desired.version, nonce, len(desired))
        return desired.sotw_body() + encode_str_field(5, nonce)


__all__ = ["Plan", "SharedPlans", "SotwStream"]
