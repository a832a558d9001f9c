"""Every link in the documentation stays in the repository or goes to a public project site.

`mkdocs build --strict` already fails on a broken link between pages of the
site; this adds what it cannot see: the README (a page of the code host,
not of the site), links that climb out of the repository (a private path
beside the checkout means nothing to a reader), and links to the web, which
may only go to the public sites of the projects the pages name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

PUBLIC_SITES = (
    "www.envoyproxy.io",
    "gateway-api.sigs.k8s.io",
    "istio.io",
    "etcd.io",
    "prometheus.io",
    "kubernetes.io",
    "opentelemetry.io",
    "docs.flagger.app",
    "www.mkdocs.org",
    "squidfunk.github.io",
    "json-schema.org",
)
"""Hosts a page may link to: the projects Breakwater works with or is built with."""

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
"""A link to a server the reader runs on their own machine (the console) leaves nothing."""

_FENCE = re.compile(r"^(```|~~~)")
_INLINE_CODE = re.compile(r"`+[^`]*`+")
_LINK = re.compile(
    r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<(https?://[^>\s]+)>|href=\"([^\"]+)\""
)


def _targets(text: str) -> Iterator[tuple[int, str]]:
    """Link targets with their line numbers, outside code blocks and inline code."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if fenced:
            continue
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            yield number, next(group for group in match.groups() if group)


def problems(root: Path, files: list[Path]) -> list[str]:
    """One sentence per link that leaves the repository or names a file that is not there."""
    found: list[str] = []
    root = root.resolve()
    for path in files:
        for line, target in _targets(path.read_text()):
            where = f"{path.relative_to(root)}:{line}: {target}"
            parts = urlsplit(target)
            if parts.scheme in ("http", "https"):
                if parts.hostname not in (*PUBLIC_SITES, *LOOPBACK_HOSTS):
                    found.append(
                        f"{where}: links outside the repository to a site not in PUBLIC_SITES"
                    )
                continue
            if parts.scheme == "mailto" or parts.scheme:
                found.append(f"{where}: only relative links and public project sites")
                continue
            if not parts.path:
                continue  # an anchor on the same page: mkdocs checks those on the site
            resolved = (path.parent / parts.path).resolve()
            if not resolved.is_relative_to(root):
                found.append(f"{where}: points outside the repository")
            elif not resolved.exists():
                found.append(f"{where}: no such file in the repository")
    return found


def documentation_files(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
