"""Proxy credentials: which node cluster a token or a client certificate lets a proxy claim.

A proxy's `node.cluster` picks the configuration it is served and the
rollouts its reports steer, so it is claimed with a credential:

- a token from the `--proxy-token-file`, sent as gRPC metadata
  `authorization: Bearer TOKEN`. The file holds `TOKEN NODE_CLUSTER` lines
  (`*`: any cluster), blank lines and `#` comments;
- over mTLS, a client certificate whose URI SAN is
  `spiffe://breakwater/cluster/NODE_CLUSTER`. The form follows SPIFFE IDs
  (`spiffe://TRUST_DOMAIN/PATH`), as Istio's `spiffe://cluster.local/ns/NS/sa/SA`
  does; the trust domain is `breakwater` and the path names the one thing
  Breakwater authorizes on, the node cluster. gRPC reads the URI SANs of the
  verified peer certificate (`peer_uri` in its auth context).

Tokens are kept by their SHA-256 digest: a lookup compares digests, so its
timing says nothing about the tokens themselves. Nothing here does gRPC.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from breakwater.controlplane.api.token_files import (
    MIN_TOKEN_LENGTH,
    TOKEN_ADVICE,
    SecurityError,
    read_secret,
)

ANY_CLUSTER = "*"
SPIFFE_PREFIX = "spiffe://breakwater/cluster/"
"""A client certificate's URI SAN is this followed by the node cluster it may claim."""


def spiffe_id(node_cluster: str) -> str:
    """The URI SAN of a certificate for proxies of `node_cluster`."""
    return SPIFFE_PREFIX + node_cluster


def clusters_of_uris(uris: Iterable[str]) -> frozenset[str]:
    """The node clusters a certificate's URI SANs name (other URIs are not ours to read)."""
    return frozenset(
        unquote(uri[len(SPIFFE_PREFIX) :])
        for uri in uris
        if uri.startswith(SPIFFE_PREFIX) and len(uri) > len(SPIFFE_PREFIX)
    )


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class TokenLine:
    token: str
    cluster: str
    line: int


def read_token_lines(path: Path) -> list[TokenLine]:
    """Every `TOKEN NODE_CLUSTER` line of a proxy token file; errors name the file and line."""
    text = read_secret(path, "proxy token file").decode("utf-8", errors="replace")
    lines: list[TokenLine] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{path}:{number}"
        if len(words) != 2:
            raise SecurityError(
                f"{where}: expected `TOKEN NODE_CLUSTER` (a token, a space, the node cluster "
                f"it may claim or `*`), found {len(words)} word(s)"
            )
        token, cluster = words
        if len(token) < MIN_TOKEN_LENGTH:
            raise SecurityError(
                f"{where}: the token is {len(token)} characters long; use at least "
                f"{MIN_TOKEN_LENGTH} ({TOKEN_ADVICE})"
            )
        if (token, cluster) in seen:
            raise SecurityError(
                f"{where}: this token is given for {cluster} twice (first on line "
                f"{seen[token, cluster]}); remove one of the lines"
            )
        seen[token, cluster] = number
        lines.append(TokenLine(token, cluster, number))
    if not lines:
        raise SecurityError(
            f"{path} holds no token; add a line `TOKEN NODE_CLUSTER` for each kind of proxy"
        )
    return lines


@dataclass(frozen=True)
class ProxyTokens:
    """The tokens of a `--proxy-token-file`, by digest, with the node clusters each may claim."""

    path: Path
    clusters: Mapping[bytes, frozenset[str]]

    def clusters_of_digest(self, digest: bytes) -> frozenset[str] | None:
        return self.clusters.get(digest)

    def clusters_of(self, token: str) -> frozenset[str] | None:
        """The node clusters `token` may claim (`*` among them: any); None for no such token."""
        return self.clusters.get(token_digest(token))

    def allows(self, token: str, cluster: str) -> bool:
        clusters = self.clusters_of(token)
        return clusters is not None and (cluster in clusters or ANY_CLUSTER in clusters)


def load_proxy_tokens(path: Path) -> ProxyTokens:
    """Read `--proxy-token-file` (refused when group or others may read it)."""
    clusters: dict[bytes, set[str]] = {}
    for line in read_token_lines(path):
        clusters.setdefault(token_digest(line.token), set()).add(line.cluster)
    return ProxyTokens(path, {d: frozenset(c) for d, c in clusters.items()})


def token_for_cluster(path: Path, cluster: str) -> str:
    """The token a proxy of `cluster` presents: its cluster's line, else a `*` line."""
    lines = read_token_lines(path)
    for wanted in (cluster, ANY_CLUSTER):
        for line in lines:
            if line.cluster == wanted:
                return line.token
    raise SecurityError(
        f"{path} has no token for node cluster {cluster} and no `*` line; add a line "
        f"`TOKEN {cluster}` to it (and give `serve` the same file)"
    )


__all__ = [
    "ANY_CLUSTER",
    "SPIFFE_PREFIX",
    "ProxyTokens",
    "clusters_of_uris",
    "load_proxy_tokens",
    "spiffe_id",
    "token_for_cluster",
]
