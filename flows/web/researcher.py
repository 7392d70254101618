"""The researcher's page: signed in by an e-mailed one-time link or a password (argon2, set on the
page once signed in), the current version's files as
downloads (each one logged by the desk), and notices of withdrawn versions with a button that
records the holder's deletion confirmation in the signed log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from flows.web.api import send_download
from flows.web.forms import SESSION_COOKIE, FormKit
from privacy.access import AccessDenied, AccessDesk, AccessRequestError
from privacy.media_gateway import MediaGateway
from privacy.web_auth import hash_password, password_ok, password_problem
from storage.site_state import Pending

SIGNIN_MAIL = """A sign-in to {dataset} was asked for this address.

Sign in (the link works once, within two days):
{confirm}

If it was not you, ignore this message.
"""
PREFIX = "researcher:"
SAMPLE_VIDEOS = 5  # links shown on the page; the release's media_url column has them all


def researcher_router(kit: FormKit, desk: AccessDesk, gateway: MediaGateway) -> APIRouter:
    router = APIRouter()
    config, state = kit.config, kit.state

    def grant_of(request: Request) -> str:
        who = state.session(request.cookies.get(SESSION_COOKIE), config.session_idle_s)
        if who is None or not who.startswith(PREFIX):
            raise HTTPException(401, "sign in first")
        return who.removeprefix(PREFIX)

    @router.get("/researcher/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        return kit.page(request, "researcher_login.html", sent=False)

    @router.post("/researcher/login", response_class=HTMLResponse)
    def login(
        request: Request,
        csrf_token: str = Form(""),
        email: str = Form("", max_length=254),
        password: str = Form("", max_length=1024),
    ) -> Response:
        email = email.strip()
        approved = desk.approved_grant_of(email)
        if password:
            kit.csrf.check(request, csrf_token)
            kit.limit(request, "login")
            if password_ok(state.password_hash(email), password) and approved:
                return kit.start_session(request, PREFIX + approved.id, "/researcher")
            error = "wrong address or password"
            return kit.page(request, "researcher_login.html", 401, sent=False, error=error)
        kit.admit(request, csrf_token)
        if approved:  # the same answer either way: the page says nothing of who holds access
            kit.ask_confirmation(
                "signin",
                "researcher",
                {"grant": approved.id},
                approved.email,
                f"Sign in to {config.access.dataset}",
                SIGNIN_MAIL,
            )
        return kit.page(request, "researcher_login.html", sent=True)

    @router.post("/researcher/password", response_class=HTMLResponse)
    def set_password(
        request: Request,
        csrf_token: str = Form(""),
        password: str = Form("", max_length=1024),
        again: str = Form("", max_length=1024),
    ) -> Response:
        grant_id = grant_of(request)
        kit.csrf.check(request, csrf_token)
        problem = password_problem(password, again)
        if problem:
            return show(request, password_problem=problem, status=400)
        grant = desk.grant(grant_id)
        assert grant is not None  # a session's grant is one the log records
        state.set_password(grant.email, hash_password(password))
        return show(request, password_set=True)

    def sign_in(claimed: Pending) -> None:
        state.attach(claimed.status_id, claimed.payload["grant"])

    kit.confirmation_routes(router, "signin", "researcher", "sign in", sign_in)

    @router.get("/researcher/status/{status_id}")
    def signed_in_via(request: Request, status_id: str) -> Response:
        """Where a used sign-in link lands: a new session for its grant, once."""
        pending = state.by_status(status_id)
        if pending is None or pending.kind != "signin" or not pending.ref:
            raise HTTPException(404, "no such sign-in")
        state.attach(status_id, "used")  # a link signs in once
        if pending.ref == "used":
            raise HTTPException(404, "this sign-in link was used already")
        return kit.start_session(request, PREFIX + pending.ref, "/researcher")

    @router.get("/researcher", response_class=HTMLResponse)
    def page(request: Request) -> Response:
        return show(request)

    @router.post("/researcher/api-token", response_class=HTMLResponse)
    def api_token(request: Request, csrf_token: str = Form("")) -> Response:
        grant_id = grant_of(request)
        kit.csrf.check(request, csrf_token)
        return show(request, state.new_api_token(grant_id))

    def show(
        request: Request, new_token: str | None = None, status: int = 200, **more: Any
    ) -> Response:
        try:
            grant_id = grant_of(request)
        except HTTPException:
            return RedirectResponse("/researcher/login", status_code=303)
        grant = desk.grants()[grant_id]
        files: dict[str, str] = {}
        refused = None
        try:
            files = desk.issue(grant_id)
        except AccessDenied as exc:
            refused = str(exc)
        context: dict[str, Any] = {
            "grant": grant,
            "files": {p: _link(u) for p, u in files.items()},
            "refused": refused,
            "notices": desk.notices(grant_id),
            "videos": sorted(gateway.view().current)[:SAMPLE_VIDEOS],
            "tokens": len(state.api_tokens(grant_id)),
            "new_token": new_token,
            "base_url": config.base_url,
            "has_password": state.password_hash(grant.email) is not None,
            **more,
        }
        return kit.page(request, "researcher.html", status, **context)

    @router.get("/researcher/download")
    def download(request: Request, token: str) -> Response:
        return send_download(desk, grant_of(request), token)

    @router.post("/researcher/deletion/{version}")
    def deletion(request: Request, version: str, csrf_token: str = Form("")) -> Response:
        grant_id = grant_of(request)
        kit.csrf.check(request, csrf_token)
        if version not in {n["version"] for n in desk.notices(grant_id)}:
            raise HTTPException(404, "you hold no such withdrawn version")
        try:
            desk.confirm_deletion(grant_id, version)
        except AccessRequestError as exc:
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse("/researcher", status_code=303)

    return router


def _link(url: str) -> str:
    """A presigned S3 URL as it is; a local token through the site's download route."""
    from urllib.parse import quote

    return url if url.startswith("http") else f"/researcher/download?token={quote(url, safe='')}"
