"""The etcd v3 backend of the state store: one state shared by several replicas.

`--state etcd://host:port[,host:port...]/prefix` selects it. Keys under the
prefix (default `/breakwater`):

    <prefix>/state/revision                  touched by every state write, in the same transaction
    <prefix>/state/weights/<route>/<rule>    {"route", "rule", "weights"}; its mod revision is the
                                             override's revision (what compare-and-set compares)
    <prefix>/state/drains/<service>/<endpoint>  {"service", "endpoint", "by", "at"}; its mod
                                             revision is the drain's revision, as for weights
    <prefix>/state/instances/<service>/<endpoint>  a registered instance, attached to a lease of
                                             its TTL (`instances`: renewals are keep-alives)
    <prefix>/replicas/<id>                   one running replica, attached to its lease
    <prefix>/fleet/<id>                      that replica's share of the fleet's reports
                                             (`fleet.shared`), attached to the same lease

Revisions are etcd's. An override's revision is its key's `mod_revision`, so
compare-and-set is a transaction comparing that mod revision (0: the key must
not exist). The state revision is the etcd revision at which the last state
write committed (the header revision that write returned); it is read as the
mod revision of `state/revision`. The header revision of a plain read is not
used because replica registrations move etcd's revision too, and two
replicas holding the same overrides must report the same revision.

The modules: `address` (the URL), `access` (TLS and a user), `connection` (the client, the endpoints
in turn, and whether etcd answers), `store` (`EtcdStore`: keys,
transactions, leases) and `watch` (other replicas' writes, as revisions).
"""

from breakwater.controlplane.state.etcd.access import EtcdAccess
from breakwater.controlplane.state.etcd.address import (
    DEFAULT_PORT,
    DEFAULT_PREFIX,
    SCHEME,
    EtcdAddress,
    is_etcd_url,
    parse_etcd_url,
)
from breakwater.controlplane.state.etcd.connection import DEFAULT_TIMEOUT
from breakwater.controlplane.state.etcd.store import EtcdStore
from breakwater.controlplane.state.etcd.watch import StoreCompacted

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_PREFIX",
    "DEFAULT_TIMEOUT",
    "SCHEME",
    "EtcdAccess",
    "EtcdAddress",
    "EtcdStore",
    "StoreCompacted",
    "is_etcd_url",
    "parse_etcd_url",
]
