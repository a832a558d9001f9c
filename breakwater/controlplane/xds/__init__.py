"""The ADS server (State of the World and Delta) and the snapshot cache it serves from.

Each gRPC stream keeps, per type URL, what the proxy subscribed to, what it
was sent, what it acknowledged and what it rejected. Two rules shape what is
sent:

* A version the proxy rejected is not sent again; only a different version
  is. The proxy keeps running on its last accepted config meanwhile, and the
  rejection stays visible in the registry until then.
* Make before break. Types go out in the order CDS, EDS, LDS, RDS. A route
  or listener update that points at a cluster waits until the proxy has
  acknowledged that cluster (and its endpoints, when we serve them), for at
  most ``ordering_timeout``; a cluster leaves the proxy only once no route or
  listener it acknowledged still points at it. Both rules work from what was
  acknowledged on the current stream: a proxy that reconnects gets the
  current state, without the old clusters its routes might still use.

Streams are woken by the cache on a snapshot change or by their own
requests, and then compare versions: the resources, their versions and
their encoded bytes are shared by all streams of a group.

The modules, from the wire inwards:

* ``server``: the gRPC servicer (one loop per stream) and the server that binds the port.
* ``options``: the port's settings and their defaults (message size, ordering timeout).
* ``sotw`` and ``delta``: how each flavour reads requests and builds responses (SotW
  streams in the same state share one decision per snapshot).
* ``stream``: what both flavours share: the inbox, the wake-ups, the order of responses
  (an ACK read while the stream is idle is handled by its reader).
* ``ordering``: make-before-break as pure functions (what waits, what is kept).
* ``subscription``: one type on one stream: subscribed, sent, ACKed, rejected.
* ``status``: the registry of streams and the observer hooks, for status and metrics.
* ``collector``: the garbage collector's young generation, sized to the open streams.
* ``source``: the little the server asks of a snapshot cache.
* ``cache``: snapshots per node group, and the wake-up of their streams.
* ``resources``: resources and snapshots, versioned by content and encoded once.
"""
