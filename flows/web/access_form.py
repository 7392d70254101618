"""The access request form: filed with the desk only once its address is confirmed by e-mail.

POST /access checks the fields, keeps the request in the site's state, mails a confirmation
link and sends the requester to a status page. The link opens a page with one button (a POST:
mail scanners that follow links confirm nothing); confirming files the request with the desk,
once, however often it is clicked.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from flows.web.forms import FormKit
from privacy.access import AccessDesk, AccessRequestError, check_request
from storage.site_state import Pending

CONFIRM_MAIL = """Someone, probably you, asked for access to {dataset} for research.

Confirm this address to file the request:
{confirm}

Its status: {status}

If it was not you, ignore this message: nothing is filed without the confirmation.
"""


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
