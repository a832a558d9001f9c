"""State of the World: every response carries the whole set of resources of its type.

The proxy ACKs or NACKs a response by echoing its nonce. A selection is
shared by the streams of a group that ask for the same names, so ``sent``
and ``acked`` are those shared mappings, never copies, and the encoded body
is built once for all of them; only the nonce is appended per stream.
"""

from __future__ import annotations

from .ordering import SharedVerdicts
from .resources import WILDCARD_TYPES, Selection, Snapshot, encode_str_field
from .status import Mode
from .stream import Stream
from .subscription import Request, Subscription, is_nack, split_wildcard

_VERDICTS = SharedVerdicts()
"""One memory of make-before-break verdicts for every SotW stream of the process: it is keyed
by snapshot version and by the shared ACKed mappings, so groups never see each other's."""


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

    def _respond(self, state: Subscription, desired: Selection, snapshot: Snapshot) -> bytes | None:
        if not state.reply_due and desired.version == state.sent_version:
            return None
        nonce = self._next_nonce()
        state.sent = desired.resources
        self._record_send(state, desired.version, nonce, len(desired))
        return desired.sotw_body() + encode_str_field(5, nonce)


__all__ = ["SotwStream"]
