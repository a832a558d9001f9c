"""What the admin port answers a web browser: its own pages, never another site's.

Without a token, the loopback listener is the admin API's only guard, and a
browser on the operator's machine is on loopback. Two attacks reach through
it, and three rules stop them:

- **DNS rebinding.** A page of `attacker.example` makes its name resolve to
  127.0.0.1 and then calls "its own" origin, which is this port. The request
  carries `Host: attacker.example`, so the port answers only Host names it
  is reached by: the address the connection arrived on (the pod IP a kubelet
  probes, on a listener of 0.0.0.0), `localhost` and loopback addresses when
  it arrived on loopback, the name given with `--admin-address`, and names
  the operator adds with `--admin-host` (a load balancer's or an ingress's).
  Others get 421. kubectl proxy's `--accept-hosts` and Jupyter's
  `local_hostnames` do the same.
- **Cross-site writes.** A page of another site posts a form, or `fetch`es
  with a "simple" type (`text/plain`) that the browser sends without asking
  the server first. A request carrying `Origin` must come from this server's
  own origin (its host and port as the Host header names them), else 403;
  Grafana's CSRF check compares the same two. The scheme is not compared: an
  ingress that ends TLS turns `https://` into plain HTTP here, and no other
  server can listen on this host and port.
- **JSON only.** Every write needs `Content-Type: application/json`, which no
  form can send and `fetch` sends only after a CORS preflight this port never
  grants, so a browser that sends no `Origin` cannot be made to write either
  (415 otherwise).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

WRITE_METHODS = frozenset({"PUT", "POST", "DELETE", "PATCH"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


class MisdirectedHost(Exception):
    """A Host this server does not answer to (HTTP 421)."""


class ForeignOrigin(Exception):
    """A request from a web page of another origin (HTTP 403)."""


class NotJson(Exception):
    """A write that is not `application/json` (HTTP 415)."""


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(text.strip("[]").partition("%")[0])
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def split_host(host: str) -> tuple[str, int | None]:
    """`name:port`, `[v6]:port`, `name` or `v6` as (lower-cased name without brackets, port)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    return name.rstrip("."), int(port) if port.isdigit() else None


class BrowserGuard:
    """The Host names this port answers to, and the checks of the module's three rules."""

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self.names = {split_host(name)[0] for name in names}

    def listen_on(self, host: str) -> None:
        """Answer to the name the admin port listens on, when it is a name."""
        if host not in _WILDCARDS and _address(host) is None:
            self.names.add(split_host(host)[0])

    def host_allowed(self, name: str, local: str | None) -> bool:
        """Whether Host `name` may be answered on a connection that arrived at address `local`."""
        if name in self.names:
            return True
        asked, arrived = _address(name), _address(local or "")
        on_loopback = arrived is not None and arrived.is_loopback
        if on_loopback and (name == "localhost" or (asked is not None and asked.is_loopback)):
            return True
        return asked is not None and asked == arrived

    def check_site(self, request: web.Request) -> None:
        """Refuse a Host this port does not answer to, or an Origin other than its own."""
        host = request.headers.get("Host")
        if host is None:
            return  # HTTP/1.0 without Host: no browser sends that, and a rebound name needs one
        name, port = split_host(host)
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        local = str(sockname[0]) if sockname else None
        if not self.host_allowed(name, local):
            raise MisdirectedHost(
                f"this server does not answer to the name {name!r}: a web page could use a name "
                "it controls to reach it (DNS rebinding). Call it by its address or localhost, "
                f"or, if {name!r} is how it is reached (a load balancer or ingress), start "
                f"`breakwater serve` with --admin-host {name}"
            )
        origin = request.headers.get("Origin")
        if origin is None:
            return
        parts = urlsplit(origin)
        try:
            origin_port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            origin_port = None
        own = port or _DEFAULT_PORTS.get(parts.scheme)
        if parts.hostname is None or (parts.hostname.rstrip("."), origin_port) != (name, own):
            raise ForeignOrigin(
                f"a web page of origin {origin!r} may not call this server: only its own pages "
                f"(http(s)://{host}) may. Open the console at http(s)://{host}/ or use the "
                "breakwater CLI"
            )

    @staticmethod
    def check_json(request: web.Request) -> None:
        if request.method in WRITE_METHODS and request.content_type != "application/json":
            sent = request.headers.get("Content-Type") or "no Content-Type"
            raise NotJson(
                f"a write must be sent as `Content-Type: application/json` with a JSON body "
                f"(`{{}}` when it needs none), not {sent}: no web form of another site can "
                "send that type"
            )
