"""What every form of the site shares: pages with a CSRF token tied to a cookie of the
browser's own, the per-address rate limit (`form_posts_per_hour`), and confirmation by e-mail
(a page with one button behind the mailed link: mail scanners that follow links confirm
nothing; the POST claims the request once, however often it is clicked).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from curation.config import SiteConfig
from flows.web import mail
from privacy.web_auth import csrf_ok, csrf_token, site_secret
from storage.site_state import Pending, SiteState

CSRF_COOKIE = "massiv_csrf"
SESSION_COOKIE = "massiv_session"
# kind → (counter prefix, SiteConfig field of its allowance, what the 429 calls it)
LIMITS = {
    "form": ("", "form_posts_per_hour", "forms"),
    "login": ("login:", "logins_per_hour", "sign-ins"),
    "lookup": ("lookup:", "lookups_per_hour", "checks"),
}


class Csrf:
    """The forms' CSRF check on a request (privacy.web_auth makes and checks the tokens)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def issue(self, request: Request) -> tuple[str, str]:
        """(cookie nonce, form token) for a page that shows a form."""
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)
        return nonce, csrf_token(self.secret, nonce)

    def check(self, request: Request, token: str) -> None:
        if not csrf_ok(self.secret, request.cookies.get(CSRF_COOKIE), token):
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

    def limit(self, request: Request, kind: str = "form") -> None:
        """Count one `kind` of post against its address's hourly allowance (429 beyond it)."""
        prefix, setting, what = LIMITS[kind]
        client = request.client.host if request.client else "?"
        if not self.state.allow_post(prefix + client, getattr(self.config, setting)):
            raise HTTPException(429, f"too many {what} from this address; try again in an hour")

    def mail(self, to: str, subject: str, body: str) -> None:
        c = self.config
        mail.send(c.smtp_host, c.smtp_port, c.mail_from, to, subject, body)

    def start_session(self, request: Request, who: str, to: str) -> Response:
        """A new session for `who` (the browser's old one, if any, is closed, never adopted)."""
        self.state.close_session(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(to, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.state.open_session(who),
            httponly=True,
            samesite="strict",
            secure=self.secure,
            max_age=self.config.session_idle_s,
        )
        return response

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
        self.mail(to, subject, text)
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
