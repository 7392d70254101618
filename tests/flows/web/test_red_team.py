"""The cases a red-team pass over the site found, each now refused or survived."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from curation.config import SiteConfig
from flows.web.app import create_app
from privacy.audit import open_desk
from synth.local_smtp import free_port
from tests.flows.web.conftest import Mailbox
from tests.flows.web.test_access_form import FORM, csrf
from tests.flows.web.test_curator import PASSWORD, curator_site, sign_in
from tests.flows.web.test_opt_out_form import VIDEO, opt_out_site, send


@pytest.mark.parametrize(
    "address",
    [
        "<attacker@evil.example>.uni.edu",  # mailed to evil.example, shown as …uni.edu
        "prof.smith.uni.edu<ext@evil.example>",
        "victim@x.example,root",  # a second recipient
        "a\x00b@x.example",
    ],
)
def test_an_address_is_one_plain_mailbox(site: SiteConfig, address: str) -> None:
    client = TestClient(create_app(site))
    refused = client.post(
        "/access", data={**FORM, "email": address, "csrf_token": csrf(client, "/access")}
    )
    assert refused.status_code == 400 and "not an e-mail address" in refused.text
    opt_out = send(client, links=VIDEO, email=address)
    assert opt_out.status_code == 400  # type: ignore[attr-defined]


def test_a_token_confirms_only_its_own_kind_and_a_failed_filing_gives_the_claim_back(
    site: SiteConfig, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = opt_out_site(site, tmp_path)
    client = TestClient(create_app(config), raise_server_exceptions=False)
    send(client, links=VIDEO, email="kind@mail.example")
    link = mailbox.link("kind@mail.example")  # /opt-out/confirm/<token>
    wrong = link.replace("/opt-out/", "/access/")
    assert client.post(wrong, data={"csrf_token": csrf(client, "/access")}).status_code == 404

    def broken(*_: object) -> None:
        raise OSError("disk full")  # fault injection

    monkeypatch.setattr("flows.web.opt_out_form.append_requests", broken)
    failed = client.post(link, data={"csrf_token": csrf(client, link)})
    assert failed.status_code == 500
    assert "frame-ancestors 'none'" in failed.headers["content-security-policy"]
    assert "disk full" not in failed.text
    monkeypatch.undo()
    done = client.post(link, data={"csrf_token": csrf(client, link)}, follow_redirects=False)
    assert done.status_code == 303
    assert config.opt_out_requests.read_text().count(VIDEO) == 1  # filed once, after all


def test_approval_lengths_are_bounded(site: SiteConfig, tmp_path: Path) -> None:
    config = curator_site(site, tmp_path)
    client = TestClient(create_app(config))
    grant = open_desk(config.access).request("A", "B", "a@b.example", "c", True)
    assert sign_in(client).status_code == 303
    token = csrf(client, "/curator")
    for days in ("99999999", "-5", "0"):
        reply = client.post(
            f"/curator/access/{grant.id}/approve", data={"csrf_token": token, "days": days}
        )
        assert reply.status_code == 422, days
    assert open_desk(config.access).grants()[grant.id].status == "requested"


def test_a_new_password_signs_every_session_out(site: SiteConfig, tmp_path: Path) -> None:
    config = curator_site(site, tmp_path)
    client = TestClient(create_app(config))
    assert sign_in(client).status_code == 303
    assert client.get("/curator", follow_redirects=False).status_code == 200
    subprocess.run(
        [sys.executable, "-m", "flows.cli", "site", "set-password", "--config",
         str(tmp_path / "site.yaml")],
        input=PASSWORD + " new\n", text=True, check=True, capture_output=True,
    )  # fmt: skip
    assert client.get("/curator", follow_redirects=False).status_code == 303  # to the sign-in


def test_no_token_or_capability_reaches_the_servers_log(site: SiteConfig, tmp_path: Path) -> None:
    config = site.model_copy(update={"state": tmp_path / "site.sqlite3"})
    (tmp_path / "site.yaml").write_text(config.model_dump_json())
    port = free_port()
    command = [sys.executable, "-m", "flows.cli", "serve", "--config", str(tmp_path / "site.yaml"),
               "--port", str(port), "--access-log"]  # fmt: skip
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    secrets = ["confirmtoken" * 3, "statusid" * 3, "mv_bearersecret", "downloadtoken", "sig0123"]
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/", timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and server.poll() is None, "no server"
                time.sleep(0.2)
        asked = [
            f"/access/confirm/{secrets[0]}",
            f"/opt-out/status/{secrets[1]}",
            f"/researcher/download?token={secrets[3]}",
            f"/platform-media/abc.mp4?exp=1&sig={secrets[4]}",
            f"/api/release?token={secrets[3]}",
        ]
        for path in asked:
            httpx.get(base + path, headers={"Authorization": f"Bearer {secrets[2]}"})
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[1]
    lines = [line for line in log.splitlines() if " GET " in line]
    assert len(lines) == len(asked) + 1, log  # one line per request, the homepage first
    assert "GET /access/confirm/… 404" in log and "GET /researcher/download?token=… " in log
    assert not [s for s in secrets if s in log], log
