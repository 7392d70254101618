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
from collections.abc import Callable
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


class FormKit:
    """What every form page needs: the config, its templates and state, CSRF, the rate limit."""

    def __init__(self, config: SiteConfig, state: SiteState, templates: Jinja2Templates) -> None:
        self.config, self.state, self.templates = config, state, templates
        self.csrf = Csrf(site_secret(config.secret_file))
        self.secure = config.base_url.startswith("https://")

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        nonce, token = self.csrf.issue(request)
        context = {"dataset": self.config.access.dataset, "csrf": token, **context}
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        return set_cookie(response, nonce, self.secure)

    def admit(self, request: Request, csrf_token: str) -> None:
        """A form post from this site (CSRF) and within its address's hourly allowance."""
        self.csrf.check(request, csrf_token)
        self.limit(request)

    def limit(self, request: Request) -> None:
        client = request.client.host if request.client else "?"
        if not self.state.allow_post(client, self.config.form_posts_per_hour):
            raise HTTPException(429, "too many forms from this address; try again in an hour")

    def pending(self, token: str, kind: str) -> Pending:
        pending = self.state.by_token(token)
        if pending is None or pending.kind != kind:
            raise HTTPException(404, "this confirmation link is not valid")
        return pending

    def ask_confirmation(
        self, kind: str, prefix: str, payload: dict[str, Any], to: str, subject: str, body: str
    ) -> Response:
        """Keep a request until its address is confirmed; mail the link (`body` is formatted
        with dataset, confirm and status); send the browser to the status page."""
        status_id, token = self.state.add(kind, payload)
        c = self.config
        text = body.format(
            dataset=c.access.dataset,
            confirm=f"{c.base_url}/{prefix}/confirm/{token}",
            status=f"{c.base_url}/{prefix}/status/{status_id}",
        )
        mail.send(c.smtp_host, c.smtp_port, c.mail_from, to, subject, text)
        return RedirectResponse(f"/{prefix}/status/{status_id}", status_code=303)

    def confirmation_routes(
        self,
        router: APIRouter,
        kind: str,
        prefix: str,
        what: str,
        on_claim: Callable[[Pending], None],
    ) -> None:
        """GET shows one button; POST claims the request once and runs `on_claim` on it (a
        failure gives the claim back, so the link still works)."""

        @router.get(f"/{prefix}/confirm/{{token}}", response_class=HTMLResponse)
        def confirm_page(request: Request, token: str) -> Response:
            done = self.pending(token, kind).confirmed_at
            return self.page(
                request, "confirm.html", token=token, done=done, prefix=prefix, what=what
            )

        @router.post(f"/{prefix}/confirm/{{token}}")
        def confirm(request: Request, token: str, csrf_token: str = Form("")) -> Response:
            self.csrf.check(request, csrf_token)
            pending = self.pending(token, kind)
            claimed = self.state.claim(token)
            if claimed is not None:
                try:
                    on_claim(claimed)
                except BaseException:
                    self.state.unclaim(claimed.status_id)
                    raise
            return RedirectResponse(f"/{prefix}/status/{pending.status_id}", status_code=303)


def access_router(kit: FormKit, desk: AccessDesk) -> APIRouter:
    router = APIRouter()
    config, state, page = kit.config, kit.state, kit.page

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
        kit.admit(request, csrf_token)
        form = {"name": name, "institution": institution, "email": email, "purpose": purpose}
        try:
            check_request(name, institution, email, purpose, terms == "yes")
        except AccessRequestError as exc:
            message = str(exc).removeprefix("access request: ")
            return page(request, "access_form.html", 400, form=form, error=message)
        return kit.ask_confirmation(
            "access",
            "access",
            form,
            email,
            f"Confirm your request for access to {config.access.dataset}",
            CONFIRM_MAIL,
        )

    def file_request(claimed: Pending) -> None:
        f = claimed.payload
        grant = desk.request(f["name"], f["institution"], f["email"], f["purpose"], True)
        state.attach(claimed.status_id, grant.id)

    kit.confirmation_routes(router, "access", "access", "file the request", file_request)

    @router.get("/access/status/{status_id}", response_class=HTMLResponse)
    def status(request: Request, status_id: str) -> Response:
        pending = state.by_status(status_id)
        if pending is None:
            raise HTTPException(404, "no such request")
        grant = desk.grants().get(pending.ref) if pending.ref else None
        return page(request, "access_status.html", pending=pending, grant=grant)

    return router
