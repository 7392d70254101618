"""The access request form: filed with the desk only once its address is confirmed by e-mail.

POST /access checks the fields, keeps the request in the site's state, mails a confirmation
link and sends the requester to a status page. The link opens a page with one button (a POST:
mail scanners that follow links confirm nothing); confirming files the request with the desk,
once, however often it is clicked. Every form carries a CSRF token tied to a cookie of the
browser's own, and every client may post `form_posts_per_hour` forms an hour.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from curation.config import SiteConfig
from flows.web import mail
from flows.web.state import Pending, SiteState
from privacy.access import AccessDesk, AccessRequestError, check_request

CSRF_COOKIE = "massiv_csrf"
CONFIRM_MAIL = """Someone, probably you, asked for access to {dataset} for research.

Confirm this address to file the request:
{confirm}

Its status: {status}

If it was not you, ignore this message: nothing is filed without the confirmation.
"""


def site_secret(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return bytes.fromhex(path.read_text().strip())


class Csrf:
    """Double submit, signed: the form's token is an HMAC of the browser's own cookie."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def token(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()

    def issue(self, request: Request) -> tuple[str, str]:
        """(cookie nonce, form token) for a page that shows a form."""
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)
        return nonce, self.token(nonce)

    def check(self, request: Request, token: str) -> None:
        nonce = request.cookies.get(CSRF_COOKIE)
        if not nonce or not hmac.compare_digest(self.token(nonce), token):
            raise HTTPException(403, "this form has expired or did not come from this site")


def set_cookie(response: Response, nonce: str, secure: bool) -> Response:
    response.set_cookie(
        CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=secure, max_age=86_400
    )
    return response


def access_router(
    config: SiteConfig, desk: AccessDesk, state: SiteState, templates: Jinja2Templates
) -> APIRouter:
    router = APIRouter()
    csrf = Csrf(site_secret(config.secret_file))
    secure = config.base_url.startswith("https://")

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        nonce, token = csrf.issue(request)
        context = {"dataset": config.access.dataset, "csrf": token, **context}
        response = templates.TemplateResponse(request, name, context, status_code=status)
        return set_cookie(response, nonce, secure)

    def limit(request: Request) -> None:
        client = request.client.host if request.client else "?"
        if not state.allow_post(client, config.form_posts_per_hour):
            raise HTTPException(429, "too many forms from this address; try again in an hour")

    @router.get("/access", response_class=HTMLResponse)
    def access_form(request: Request) -> Response:
        return page(request, "access_form.html", form={})

    @router.post("/access", response_class=HTMLResponse)
    def access_post(
        request: Request,
        csrf_token: str = Form(""),
        name: str = Form(""),
        institution: str = Form(""),
        email: str = Form(""),
        purpose: str = Form(""),
        terms: str = Form(""),
    ) -> Response:
        csrf.check(request, csrf_token)
        limit(request)
        form = {"name": name, "institution": institution, "email": email, "purpose": purpose}
        try:
            check_request(name, institution, email, purpose, terms == "yes")
        except AccessRequestError as exc:
            message = str(exc).removeprefix("access request: ")
            return page(request, "access_form.html", 400, form=form, error=message)
        status_id, token = state.add("access", form)
        mail.send(
            config.smtp_host,
            config.smtp_port,
            config.mail_from,
            email,
            f"Confirm your request for access to {config.access.dataset}",
            CONFIRM_MAIL.format(
                dataset=config.access.dataset,
                confirm=f"{config.base_url}/access/confirm/{token}",
                status=f"{config.base_url}/access/status/{status_id}",
            ),
        )
        return RedirectResponse(f"/access/status/{status_id}", status_code=303)

    def pending_of(token: str) -> Pending:
        pending = state.by_token(token)
        if pending is None:
            raise HTTPException(404, "this confirmation link is not valid")
        return pending

    @router.get("/access/confirm/{token}", response_class=HTMLResponse)
    def confirm_page(request: Request, token: str) -> Response:
        done = pending_of(token).confirmed_at
        return page(request, "access_confirm.html", token=token, done=done)

    @router.post("/access/confirm/{token}")
    def confirm(request: Request, token: str, csrf_token: str = Form("")) -> Response:
        csrf.check(request, csrf_token)
        pending = pending_of(token)
        claimed = state.claim(token)
        if claimed is not None:
            f = claimed.payload
            grant = desk.request(f["name"], f["institution"], f["email"], f["purpose"], True)
            state.attach(claimed.status_id, grant.id)
        return RedirectResponse(f"/access/status/{pending.status_id}", status_code=303)

    @router.get("/access/status/{status_id}", response_class=HTMLResponse)
    def status(request: Request, status_id: str) -> Response:
        pending = state.by_status(status_id)
        if pending is None:
            raise HTTPException(404, "no such request")
        grant = desk.grants().get(pending.grant_id) if pending.grant_id else None
        return page(request, "access_status.html", pending=pending, grant=grant)

    return router
