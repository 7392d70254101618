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
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from curation.config import SiteConfig
from curation.release.site import NotShown, Site
from flows.web.access_form import access_router
from flows.web.api import api_router
from flows.web.curator import curator_router
from flows.web.forms import FormKit
from flows.web.lookup import lookup_router
from flows.web.media import media_router, presigner
from flows.web.middleware import ACCESS_LOG, SECURITY_HEADERS, SecurityHeaders
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
