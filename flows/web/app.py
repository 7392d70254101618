"""The dataset's site: its homepage (the card, every version with its status, the changelog,
the figures and the Croissant file), read from the same release store the CLI writes.

Everything is rendered on the server and works without JavaScript. Text from the store (the
card, the changelog, withdrawal reasons) is escaped: Markdown is rendered with raw HTML off,
and the templates escape everything else. Every response carries a Content-Security-Policy
that allows nothing from elsewhere and no framing.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from curation.config import SiteConfig
from curation.release.site import NotShown, Site
from flows.web.access_form import access_router
from flows.web.api import api_router
from flows.web.curator import curator_router
from flows.web.forms import FormKit
from flows.web.lookup import lookup_router
from flows.web.media import media_router, presigner
from flows.web.opt_out_form import opt_out_router
from flows.web.researcher import researcher_router
from privacy.access_log import create_signing_key
from privacy.audit import open_desk
from privacy.log_commit import GroupCommit
from privacy.media_gateway import MediaGateway
from storage.local import LocalStore
from storage.site_state import SiteState

HERE = Path(__file__).parent
CONFIG_ENV = "MASSIV_SITE_CONFIG"  # the SiteConfig as JSON, for `massiv serve --workers N`
ACCESS_LOG_ENV = "MASSIV_SITE_ACCESS_LOG"  # so each of those processes logs its lines too
FIGURE = re.compile(r"^[a-z0-9_]+\.png$")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
ACCESS_LOG = logging.getLogger("massiv.site")  # `massiv serve --access-log` shows it
# Path segments after these are capabilities (confirmation tokens, status-page IDs, signed media
# names); query values are tokens or signatures. Neither reaches a log line.
CAPABILITY = re.compile(r"/(confirm|status|platform-media)/[^?]*")
PLAYER_CSP = (
    "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """The security headers on every answer, `Server-Timing: app;dur=` (ms from the request
    reaching the app to its answer, the wait for a worker thread included; bench/serve.py reads
    it), and one access line with every secret cut out. Plain ASGI: Starlette's
    BaseHTTPMiddleware cost a task and a stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        player = scope["path"].startswith("/platform-media/")  # the browser's own player

        async def send_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(SECURITY_HEADERS)
                if player:
                    headers["Content-Security-Policy"] = PLAYER_CSP
                ms = (time.perf_counter() - start) * 1e3
                app_ms = f"app;dur={ms:.2f}"
                inner = headers.get("server-timing")  # a route's own, e.g. the gateway's
                headers["Server-Timing"] = f"{inner}, {app_ms}" if inner else app_ms
                if ACCESS_LOG.isEnabledFor(logging.INFO):
                    ACCESS_LOG.info("%s %s %d %.1f ms", scope["method"], _loggable(scope),
                                    message["status"], ms)  # fmt: skip
            await send(message)

        await self.app(scope, receive, send_headers)


def _loggable(scope: Scope) -> str:
    """The request's path as a log may keep it: capabilities and query values cut out."""
    path = CAPABILITY.sub(lambda m: f"/{m[1]}/…", scope["path"])
    query = scope.get("query_string", b"").decode("latin-1")
    keys = [part.split("=", 1)[0] for part in query.split("&") if part]
    return path + ("?" + "&".join(f"{k}=…" for k in keys) if keys else "")


def app_from_env() -> FastAPI:
    """The app of one of `massiv serve --workers N`'s processes."""
    if os.environ.get(ACCESS_LOG_ENV):
        logging.basicConfig(format="%(asctime)s %(message)s")
        ACCESS_LOG.setLevel(logging.INFO)
    return create_app(SiteConfig.model_validate_json(os.environ[CONFIG_ENV]))


def create_app(config: SiteConfig) -> FastAPI:
    access = config.access
    site = Site(LocalStore(access.store), access.dataset)
    templates = Jinja2Templates(directory=HERE / "templates")
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if not access.signing_key.exists():
        create_signing_key(access.signing_key)
    desk = open_desk(access)
    kit = FormKit(config, SiteState(config.state), templates)
    app.include_router(access_router(kit, desk))
    app.include_router(opt_out_router(kit))
    app.include_router(curator_router(kit, desk))
    gateway = MediaGateway(
        desk,
        LocalStore(access.store),
        GroupCommit(desk.log),
        presigner(kit),
        config.takedowns,
        config.media_url_s,
    )
    app.state.gateway = gateway  # its group commit's counters, for the load bench
    app.include_router(researcher_router(kit, desk, gateway))
    app.include_router(media_router(kit, gateway))
    app.include_router(api_router(kit, desk))
    app.include_router(lookup_router(kit, gateway))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette answers an unhandled error outside SecurityHeaders: the headers here.
        return PlainTextResponse("Internal Server Error", 500, headers=SECURITY_HEADERS)

    @app.exception_handler(NotShown)
    async def not_shown(request: Request, exc: NotShown) -> Response:
        return PlainTextResponse(str(exc), 404, headers=SECURITY_HEADERS)

    app.add_middleware(SecurityHeaders)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        current = site.current()
        context: dict[str, Any] = {
            "dataset": access.dataset,
            "versions": site.versions(),
            "current": current,
            "card": site.document(current, "README.md") if current else "",
            "changelog": site.document(current, "CHANGELOG.md") if current else "",
            "figures": site.figures(current) if current else [],
        }
        return templates.TemplateResponse(request, "home.html", context)

    @app.get("/versions/{version}/croissant.json")
    def croissant(version: str) -> Response:
        path = site.readable(version) / "croissant.json"
        if not path.is_file():
            raise HTTPException(404, "no Croissant file in this version")
        return FileResponse(path, media_type="application/json")

    @app.get("/versions/{version}/figures/{name}")
    def figure(version: str, name: str) -> Response:
        path = site.readable(version) / "figures" / name
        if not FIGURE.match(name) or not path.is_file():
            raise HTTPException(404, "no such figure")
        return FileResponse(path, media_type="image/png")

    return app
