"""The dataset's site: its homepage (the card, every version with its status, the changelog,
the figures and the Croissant file), read from the same release store the CLI writes.

Everything is rendered on the server and works without JavaScript. Text from the store (the
card, the changelog, withdrawal reasons) is escaped: Markdown is rendered with raw HTML off,
and the templates escape everything else. Every response carries a Content-Security-Policy
that allows nothing from elsewhere and no framing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt

from curation.config import SiteConfig
from flows.web.curator import curator_router
from flows.web.forms import FormKit, access_router
from flows.web.opt_out_form import opt_out_router
from flows.web.researcher import researcher_router
from flows.web.state import SiteState
from privacy.access_log import create_signing_key
from privacy.audit import open_desk
from storage.local import LocalStore, newest_live, unchecked_batch

HERE = Path(__file__).parent
FIGURE = re.compile(r"^[a-z0-9_]+\.png$")
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass(frozen=True)
class VersionRow:
    version: str
    status: str  # current | superseded | withdrawn | purged | held back
    reason: str | None
    labeled: int | None
    unlabeled: int | None


class Site:
    """What the pages show, read from the store on every request (a publish or a withdrawal
    shows at once)."""

    def __init__(self, store: LocalStore, dataset: str) -> None:
        self.store, self.dataset = store, dataset

    def versions(self) -> list[VersionRow]:
        published = self.store.versions(self.dataset)
        withdrawn = self.store.withdrawn(self.dataset)
        current = newest_live(published, withdrawn)
        rows = []
        for version in reversed(published):
            mark = withdrawn.get(version)
            counts = self.store.read_manifest(self.dataset, version).get("counts", {})
            if mark is not None:
                status = "purged" if mark.get("purged_at") else "withdrawn"
                reason = mark.get("reason")
            elif unchecked_batch(self.store, self.dataset, version) is not None:
                status, reason = "held back", "an opt-out is being applied to it"
            else:
                status, reason = ("current" if version == current else "superseded"), None
            rows.append(
                VersionRow(version, status, reason, counts.get("labeled"), counts.get("unlabeled"))
            )
        return rows

    def current(self) -> str | None:
        return newest_live(self.store.versions(self.dataset), self.store.withdrawn(self.dataset))

    def readable(self, version: str) -> Path:
        """A published version's folder whose files are still there (404 otherwise)."""
        mark = self.store.withdrawn(self.dataset).get(version)
        if version not in self.store.versions(self.dataset) or (mark and mark.get("purged_at")):
            raise HTTPException(404, f"{self.dataset} has no version {version} to show")
        return self.store.version_dir(self.dataset, version)

    def document(self, version: str, name: str) -> str:
        """A Markdown file of the version as HTML (its YAML front matter, the card's metadata
        for the Hugging Face hub, left out)."""
        path = self.readable(version) / name
        if not path.is_file():
            return ""
        return _markdown.render(FRONT_MATTER.sub("", path.read_text(encoding="utf-8"), count=1))

    def figures(self, version: str) -> list[str]:
        folder = self.readable(version) / "figures"
        return sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []


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
    app.include_router(researcher_router(kit, desk))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette answers an unhandled error outside the middleware below: the headers here.
        return PlainTextResponse("Internal Server Error", 500, headers=SECURITY_HEADERS)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

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
