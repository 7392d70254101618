"""The site's API for scripts (`massiv fetch`): an API token made on the researcher's page
(`Authorization: Bearer mv_…`) stands for its grant. The current version's files, each URL
issued and logged by the desk as on the page, and local downloads through the desk."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse

from flows.web.forms import FormKit
from privacy.access import AccessDenied, AccessDesk
from storage.site_state import SiteState


def bearer_grant(state: SiteState, request: Request) -> str | None:
    """The grant of the request's API token; None without one (401 for a bad one)."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        return None
    grant = state.api_grant(auth[7:].strip())
    if grant is None:
        raise HTTPException(401, "this API token is not valid")
    return grant


def send_download(desk: AccessDesk, grant_id: str, token: str) -> Response:
    """A local download token's file, admitted (and logged) by the desk for its own grant."""
    if desk.token_grant(token) != grant_id:  # another holder's token: not this caller's
        raise HTTPException(404, "no such download")
    try:
        source = desk.admit(token)
    except AccessDenied as exc:
        raise HTTPException(403, str(exc)) from None
    return FileResponse(source, filename=source.name)


def api_router(kit: FormKit, desk: AccessDesk) -> APIRouter:
    router = APIRouter()

    def grant_of(request: Request) -> str:
        grant = bearer_grant(kit.state, request)
        if grant is None:
            raise HTTPException(401, "send an API token (Authorization: Bearer …)")
        return grant

    @router.get("/api/release")
    def release(request: Request) -> dict[str, Any]:
        """The current version, its manifest and a URL for each of its files (logged as
        `urls_issued`)."""
        grant = grant_of(request)
        try:
            version = desk.current_version()
            files = desk.issue(grant, version)
        except AccessDenied as exc:
            raise HTTPException(403, str(exc)) from None
        links = {
            path: url if url.startswith("http") else f"/api/download?token={quote(url, safe='')}"
            for path, url in files.items()
        }
        manifest = desk.store.read_manifest(desk.dataset, version)  # what `fetch` checks against
        return {"dataset": desk.dataset, "version": version, "manifest": manifest, "files": links}

    @router.get("/api/download")
    def download(request: Request, token: str) -> Response:
        return send_download(desk, grant_of(request), token)

    return router
