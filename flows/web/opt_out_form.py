"""The creators' opt-out form: video links or a whole account, a contact address, a reason.

The address is confirmed by e-mail (a POST behind the mailed link, as for access requests).
Confirmed video requests go straight into the file the daily `opt-out` flow reads, so they are
processed exactly as any other; a whole-account request waits until the curator confirms it
(`massiv site confirm-opt-out`). The status page shows each request's outcome from the flow's
evidence: applied, and in which version it took effect.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from flows.web.forms import FormKit
from privacy.access import FORM_EMAIL
from privacy.opt_out import (
    append_requests,
    load_evidence,
    parse_requests,
    request_outcome,
    site_request_rows,
)
from storage.site_state import Pending, SiteState

MAX_LINKS = 50
PROBLEMS = {
    "bad_target": "is not a link to a video on {platform}",
    "bad_requester_email": "is not an e-mail address",
}
CONFIRM_MAIL = """Someone, probably you, asked to take videos out of {dataset}.

Confirm this address to send the request:
{confirm}

Its status: {status}

If it was not you, ignore this message: nothing is sent without the confirmation.
"""


def file_requests(state: SiteState, requests: Path, pending: Pending) -> list[str]:
    """Add a confirmed request's rows to the flow's request file; their request IDs."""
    rows = site_request_rows(pending.status_id, pending.payload)
    append_requests(requests, rows)
    ids = [r["request_id"] for r in rows]
    state.attach(pending.status_id, json.dumps(ids))
    return ids


def opt_out_router(kit: FormKit) -> APIRouter:
    router = APIRouter()
    config = kit.config
    platform = config.platform_url.removeprefix("https://").removeprefix("http://")

    def check(scope: str, targets: list[str], email: str) -> str | None:
        if not targets:
            return "give at least one video link, or your account's handle"
        if len(targets) > MAX_LINKS:
            return f"at most {MAX_LINKS} links a request; send another for the rest"
        if not FORM_EMAIL.fullmatch(email):
            return "the contact address is not an e-mail address"
        frame = pl.DataFrame(
            {
                "request_id": [f"check-{i}" for i in range(len(targets))],
                "received_at": "2026-01-01T00:00:00Z",
                "requester_email": email,
                "scope": scope,
                "target": targets,
            }
        )
        for i, reason in enumerate(parse_requests(frame, config.platform_url)["reason"]):
            if reason is not None:
                what = PROBLEMS.get(reason, reason).format(platform=platform)
                return f"“{targets[i][:200]}” {what}"
        return None

    @router.get("/opt-out", response_class=HTMLResponse)
    def form(request: Request, links: str = "") -> Response:
        prefill = {"links": links[:2000]}  # from "Am I in it?"; the template escapes it
        return kit.page(request, "opt_out_form.html", form=prefill, platform=platform)

    @router.post("/opt-out", response_class=HTMLResponse)
    def post(
        request: Request,
        csrf_token: str = Form(""),
        links: str = Form(""),
        handle: str = Form(""),
        email: str = Form(""),
        reason: str = Form(""),
    ) -> Response:
        kit.admit(request, csrf_token)
        given = [line.strip() for line in links.splitlines() if line.strip()]
        handle = handle.strip().removeprefix("@")
        scope = "creator" if handle and not given else "video"
        targets = given if scope == "video" else [f"{config.platform_url}/@{handle}"]
        form = {"links": links, "handle": handle, "email": email, "reason": reason}
        problem = ("give video links or a handle, not both" if given and handle else None) or check(
            scope, targets, email.strip()
        )
        if problem:
            return kit.page(
                request, "opt_out_form.html", 400, form=form, error=problem, platform=platform
            )
        payload = {
            "scope": scope,
            "targets": targets,
            "email": email.strip(),
            "reason": reason[:2000],
        }
        return kit.ask_confirmation(
            "opt_out",
            "opt-out",
            payload,
            email.strip(),
            f"Confirm your opt-out from {config.access.dataset}",
            CONFIRM_MAIL,
        )

    def file_videos(claimed: Pending) -> None:
        if claimed.payload["scope"] == "video":  # a whole account waits for the curator
            file_requests(kit.state, config.opt_out_requests, claimed)

    kit.confirmation_routes(router, "opt_out", "opt-out", "send the request", file_videos)

    @router.get("/opt-out/status/{status_id}", response_class=HTMLResponse)
    def status(request: Request, status_id: str) -> Response:
        pending = kit.state.by_status(status_id)
        if pending is None or pending.kind != "opt_out":
            raise HTTPException(404, "no such request")
        evidence = load_evidence(config.opt_out_dir)
        filed = json.loads(pending.ref) if pending.ref else []
        targets = pending.payload["targets"] if filed else []  # an account not filed yet
        rows = [
            (target, request_outcome(evidence, request_id))
            for target, request_id in zip(targets, filed, strict=True)
        ]
        return kit.page(request, "opt_out_status.html", pending=pending, rows=rows)

    return router
