"""The web page at /ui/: one HTML document for every page path (the browser routes with the
History API, so each path is deep-linkable) and its scripts and styles, all shipped as
resources beside this module. Nothing here is in the OpenAPI document: it is not API."""

from __future__ import annotations

import hashlib
import importlib.resources

import attrs
from aiohttp import web

from execution_service.adapters.http.conditional import answer

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Same-origin only: the page loads nothing from the internet, and a stray inline script or
# style (injected through data shown on the page) does not run.
_SECURITY = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none';"
    " base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@attrs.frozen
class Asset:
    body: bytes
    content_type: str
    etag: str

    def response(self, request: web.Request) -> web.Response:
        return answer(
            request,
            self.etag,
            lambda: web.Response(
                body=self.body, content_type=None, headers={"Content-Type": self.content_type}
            ),
            {"Cache-Control": "no-cache", **_SECURITY},
        )


def load_assets() -> dict[str, Asset]:
    """Every file of ui/, read once: a few tens of kilobytes."""
    folder = importlib.resources.files(__package__ or "").joinpath("ui")
    assets = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _TYPES:
            body = entry.read_bytes()
            etag = hashlib.sha256(body).hexdigest()[:16]
            assets[entry.name] = Asset(body, _TYPES[suffix], etag)
    return assets


def add_ui_routes(app: web.Application) -> None:
    assets = load_assets()
    page = assets["index.html"]

    async def to_ui(_: web.Request) -> web.Response:
        raise web.HTTPFound("/ui/")

    async def serve_page(request: web.Request) -> web.Response:
        return page.response(request)

    async def serve_asset(request: web.Request) -> web.Response:
        asset = assets.get(request.match_info["name"])
        if asset is None or asset is page:
            raise web.HTTPNotFound()
        return asset.response(request)

    app.router.add_get("/", to_ui)
    app.router.add_get("/ui", to_ui)
    app.router.add_get("/ui/", serve_page)
    app.router.add_get("/ui/executions/{id}", serve_page)
    app.router.add_get("/ui/dead-letters", serve_page)
    app.router.add_get("/ui/static/{name}", serve_asset)
