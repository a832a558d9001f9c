"""The web console: static files shipped in the package, served at `/` on the admin port.

The page holds no data of its own. Its scripts read the same HTTP API the CLI
reads (with the token the user types, kept in the tab's session storage), so
the console shows nothing the CLI could not, and the files are served
without a token even when reads need one: they say nothing about the mesh.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

CONSOLE_PREFIX = "/console/"
"""Where the assets are served; `/` is the page itself."""

_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}

_HEADERS = {
    # Everything comes from this port: no CDN, no inline script, no framing by other sites.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _assets() -> dict[str, tuple[bytes, str]]:
    """Every shipped file by name, read once: only these names are ever served."""
    found: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files(__package__).joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            found[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return found


def is_console_path(path: str) -> bool:
    """The page and its assets, which need no token (the data they show does)."""
    return path == "/" or path.startswith(CONSOLE_PREFIX)


def add_console_routes(app: web.Application) -> None:
    assets = _assets()

    def answer(name: str) -> web.Response:
        found = assets.get(name)
        if found is None:
            raise web.HTTPNotFound(text=f"the console has no file {name!r}")
        body, content_type = found
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=_HEADERS)

    async def page(request: web.Request) -> web.Response:
        return answer("index.html")

    async def asset(request: web.Request) -> web.Response:
        return answer(request.match_info["name"])

    app.add_routes([web.get("/", page), web.get(CONSOLE_PREFIX + "{name}", asset)])
