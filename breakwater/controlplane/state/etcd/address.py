"""`etcd://host:port[,host:port...]/prefix`: what `--state` names, read and written back.

The CLI checks the URL before anything starts, and the store prints it in
status; both go through this one reading, so an address means the same
thing everywhere it appears.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEME = "etcd://"
DEFAULT_PORT = 2379
DEFAULT_PREFIX = "/breakwater"


@dataclass(frozen=True)
class EtcdAddress:
    endpoints: tuple[tuple[str, int], ...]
    prefix: str

    def __str__(self) -> str:
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.endpoints)
        return f"{SCHEME}{hosts}{self.prefix}"


def is_etcd_url(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_etcd_url(url: str) -> EtcdAddress:
    """`etcd://host[:port][,host[:port]...][/prefix]`; the port defaults to 2379."""
    if not is_etcd_url(url):
        raise ValueError(
            f"{url!r} is not an etcd URL: write etcd://HOST:PORT[,HOST:PORT...]/PREFIX"
        )
    rest = url[len(SCHEME) :]
    hosts, slash, path = rest.partition("/")
    prefix = "/" + path.strip("/") if slash and path.strip("/") else DEFAULT_PREFIX
    endpoints: list[tuple[str, int]] = []
    for item in hosts.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):
            host, bracket, tail = item[1:].partition("]")
            if not bracket or (tail and not tail.startswith(":")):
                raise ValueError(f"bad etcd endpoint {item!r} in {url!r}")
            port_text = tail[1:]
        else:
            host, _, port_text = item.partition(":")
        if not host:
            raise ValueError(f"etcd endpoint {item!r} in {url!r} has no host")
        try:
            port = int(port_text) if port_text else DEFAULT_PORT
        except ValueError:
            raise ValueError(f"etcd endpoint {item!r} in {url!r}: port is not a number") from None
        if not 0 < port < 65536:
            raise ValueError(f"etcd endpoint {item!r} in {url!r}: port out of range")
        endpoints.append((host, port))
    if not endpoints:
        raise ValueError(f"{url!r} names no etcd endpoint: write etcd://HOST:PORT/PREFIX")
    return EtcdAddress(tuple(endpoints), prefix)
