"""The curator's dashboard: signed in with a password (argon2), a server-side session, CSRF on
every form. The queue of access requests (approve, reject with a reason, revoke), whole-account
opt-outs waiting for confirmation, who holds which version, the access log's state, and
withdrawal notices mailed to the holders of a withdrawn version (each one in the signed log).

Sessions are new at every sign-in (an ID the browser brought is never adopted), expire when
idle, and live in the site's SQLite; sign-ins per address are limited. Every decision goes
through the same desk as `massiv access`, so it lands in the signed log.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from flows.web.forms import SESSION_COOKIE, FormKit
from flows.web.opt_out_form import file_requests
from privacy.access import AccessDenied, AccessDesk, AccessRequestError, owed_notices
from privacy.access_log import load_public_key
from privacy.web_auth import password_ok

CURATOR = "curator"
NOTICE_MAIL = """Version {version} of {dataset}, which you downloaded, was withdrawn: {reason}

Please delete every copy of it you hold, and use version {current} instead.
Then confirm the deletion on your page (it is recorded in the dataset's access log):
{page}
"""


def curator_router(kit: FormKit, desk: AccessDesk) -> APIRouter:
    router = APIRouter()
    config, state = kit.config, kit.state
    access = config.access

    def signed_in(request: Request) -> str:
        who = state.session(request.cookies.get(SESSION_COOKIE), config.session_idle_s)
        if who is None:
            raise HTTPException(401, "sign in first")
        return who

    def act(request: Request, csrf_token: str, decide: Callable[[str], Any]) -> Response:
        """A dashboard action: a live session, this site's form, then the decision."""
        who = signed_in(request)
        kit.csrf.check(request, csrf_token)
        try:
            decide(who)
        except (AccessRequestError, AccessDenied) as exc:
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse("/curator", status_code=303)

    @router.get("/curator/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        return kit.page(request, "curator_login.html")

    @router.post("/curator/login", response_class=HTMLResponse)
    def login(request: Request, csrf_token: str = Form(""), password: str = Form("")) -> Response:
        kit.csrf.check(request, csrf_token)
        kit.limit(request, "login")
        path = config.curator_password_file
        stored = path.read_text().strip() if path.is_file() else ""
        if not password_ok(stored or None, password):
            return kit.page(request, "curator_login.html", 401, error="wrong password")
        return kit.start_session(request, CURATOR, "/curator")

    @router.post("/curator/logout")
    def logout(request: Request, csrf_token: str = Form("")) -> Response:
        kit.csrf.check(request, csrf_token)
        state.close_session(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @router.get("/curator", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        try:
            signed_in(request)
        except HTTPException:
            return RedirectResponse("/curator/login", status_code=303)
        grants = sorted(desk.grants().values(), key=lambda g: g.requested_at, reverse=True)
        holders = desk.report(deletions=True)
        public = access.public_key or access.signing_key.with_suffix(".pub")
        problems = desk.log.verify(load_public_key(public)) + desk.disagreements()
        return kit.page(
            request,
            "curator.html",
            requested=[g for g in grants if g.status == "requested"],
            approved=[g for g in grants if g.status == "approved"],
            waiting=state.waiting("opt_out"),
            holders=holders,
            owed=len(owed_notices(holders)),
            problems=problems,
            entries=len(desk.log.entries()),
        )

    @router.post("/curator/access/{grant_id}/approve")
    def approve(
        request: Request,
        grant_id: str,
        csrf_token: str = Form(""),
        days: int = Form(365, ge=1, le=3650),
    ) -> Response:
        return act(request, csrf_token, lambda who: desk.approve(grant_id, who, days))

    @router.post("/curator/access/{grant_id}/{decision}")
    def reject_or_revoke(
        request: Request,
        grant_id: str,
        decision: str,
        csrf_token: str = Form(""),
        reason: str = Form(""),
    ) -> Response:
        decide = {"reject": desk.reject, "revoke": desk.revoke}.get(decision)
        if decide is None:
            raise HTTPException(404, "no such decision")
        if not reason.strip():
            raise HTTPException(400, f"to {decision} needs a reason (the requester sees it)")
        return act(request, csrf_token, lambda who: decide(grant_id, who, reason.strip()))

    @router.post("/curator/notices")
    def send_notices(request: Request, csrf_token: str = Form("")) -> Response:
        def notify(_: str) -> None:
            current = desk.current_version()
            for row in owed_notices(desk.report(deletions=True)):
                body = NOTICE_MAIL.format(
                    version=row["version"],
                    dataset=access.dataset,
                    reason=row["reason"],
                    current=current,
                    page=f"{config.base_url}/researcher",
                )
                subject = f"{access.dataset} {row['version']} was withdrawn: please delete it"
                try:
                    kit.mail(row["email"], subject, body)
                except (OSError, smtplib.SMTPException) as exc:  # those sent are recorded
                    raise HTTPException(502, f"mail to {row['email']} failed: {exc}") from None
                desk.record_notice(row["grant"], row["version"])  # after it left: one per send

        return act(request, csrf_token, notify)

    @router.post("/curator/opt-out/{status_id}/confirm")
    def confirm_account(request: Request, status_id: str, csrf_token: str = Form("")) -> Response:
        def file(_: str) -> None:
            pending = state.waiting_for("opt_out", status_id)
            if pending is None:
                raise AccessRequestError(f"no whole-account opt-out {status_id} waits")
            file_requests(state, config.opt_out_requests, pending)

        return act(request, csrf_token, file)

    return router
