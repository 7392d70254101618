"""The curator's dashboard: argon2 password, a fresh session at every sign-in, CSRF on every
action, limited sign-ins; its decisions land in the desk's signed log."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from curation.config import SiteConfig
from flows.web.app import create_app
from privacy.audit import open_desk
from privacy.blocklist import Blocklist
from storage.local import LocalStore
from synth.local_smtp import Mailbox, free_port
from tests.curation.release.test_build import publish
from tests.flows.web.test_access_form import csrf
from tests.flows.web.test_researcher import own_store

PASSWORD = "correct horse battery staple"


def curator_site(site: SiteConfig, tmp_path: Path, **changes: object) -> SiteConfig:
    config = site.model_copy(
        update={
            "curator_password_file": tmp_path / "curator.argon2",
            "state": tmp_path / "site.sqlite3",
            **changes,
        }
    )
    yaml = tmp_path / "site.yaml"
    yaml.write_text(config.model_dump_json())
    subprocess.run(  # as the curator sets it: `massiv site set-password`, from stdin
        [sys.executable, "-m", "flows.cli", "site", "set-password", "--config", str(yaml)],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True,
    )  # fmt: skip
    return config


def sign_in(client: TestClient, password: str = PASSWORD) -> Any:
    token = csrf(client, "/curator/login")
    return client.post(
        "/curator/login",
        data={"password": password, "csrf_token": token},
        follow_redirects=False,
    )


def test_the_curator_approves_and_rejects_and_the_log_records_it(
    site: SiteConfig, tmp_path: Path
) -> None:
    config = curator_site(site, tmp_path)
    client = TestClient(create_app(config))
    desk = open_desk(config.access)
    wanted = desk.request("Ira <script>alert(1)</script>", "IITB", "ira@iitb.example", "x", True)
    unwanted = desk.request("Spam", "None", "spam@spam.example", "resale", True)
    assert client.get("/curator", follow_redirects=False).headers["location"] == "/curator/login"
    assert sign_in(client, "wrong").status_code == 401
    assert sign_in(client).status_code == 303
    page = client.get("/curator").text
    assert wanted.id in page and "chain, signatures and grants intact" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    token = csrf(client, "/curator")
    approve = f"/curator/access/{wanted.id}/approve"
    assert client.post(approve, data={"days": "30"}).status_code == 403  # no CSRF token
    assert (
        TestClient(create_app(config)).post(approve, data={"csrf_token": token}).status_code == 401
    )
    done = client.post(approve, data={"csrf_token": token, "days": "30"}, follow_redirects=False)
    assert done.status_code == 303
    reject = f"/curator/access/{unwanted.id}/reject"
    assert client.post(reject, data={"csrf_token": token, "reason": " "}).status_code == 400
    client.post(reject, data={"csrf_token": token, "reason": "not research"})
    grants = open_desk(config.access).grants()
    assert (grants[wanted.id].status, grants[wanted.id].decided_by) == ("approved", "curator")
    assert (grants[unwanted.id].status, grants[unwanted.id].note) == ("rejected", "not research")
    events = [e["event"] for e in open_desk(config.access).log.entries()]
    assert events[-2:] == ["access_approved", "access_rejected"]


def test_a_sign_in_never_adopts_a_session_the_browser_brought(
    site: SiteConfig, tmp_path: Path
) -> None:
    config = curator_site(site, tmp_path)
    client = TestClient(create_app(config))
    client.cookies.set("massiv_session", "chosen-by-an-attacker")
    reply = sign_in(client)
    assert reply.status_code == 303
    issued = reply.cookies["massiv_session"]
    assert issued and issued != "chosen-by-an-attacker"
    client.cookies.clear()
    client.cookies.set("massiv_session", issued)
    attacker = TestClient(create_app(config))
    attacker.cookies.set("massiv_session", "chosen-by-an-attacker")
    assert attacker.get("/curator", follow_redirects=False).status_code == 303  # to the login
    token = csrf(client, "/curator")
    client.post("/curator/logout", data={"csrf_token": token})
    stolen = TestClient(create_app(config))
    stolen.cookies.set("massiv_session", issued)
    assert stolen.get("/curator", follow_redirects=False).status_code == 303  # signed out


def test_sign_ins_per_address_are_limited(site: SiteConfig, tmp_path: Path) -> None:
    config = curator_site(site, tmp_path, logins_per_hour=3)
    client = TestClient(create_app(config))
    codes = [sign_in(client, f"guess {i}").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    assert sign_in(client).status_code == 429  # even the right password, for the rest of the hour
    stored = config.curator_password_file.read_text()
    assert PASSWORD not in stored and re.match(r"^\$argon2id\$", stored)


def test_withdrawal_notices_are_mailed_once_to_those_who_owe_a_deletion(
    site: SiteConfig, mailbox: Mailbox, tmp_path: Path
) -> None:
    config = curator_site(own_store(site, tmp_path), tmp_path)
    client = TestClient(create_app(config))
    desk = open_desk(config.access)
    ana, bo, cy = (desk.request(n, "Uni", f"{n}@uni.example", "research", True) for n in "abc")
    for grant in (ana, bo, cy):
        desk.approve(grant.id, "curator")
    for grant in (ana, bo):  # cy never downloaded 1.0.0
        desk.issue(grant.id)
    store = LocalStore(config.access.store)
    publish(store, "1.0.1", Blocklist.empty())
    store.withdraw("d", "1.0.0", "holds opted-out content", 30, datetime.now(UTC))
    desk.confirm_deletion(bo.id, "1.0.0")  # bo deleted it already
    assert sign_in(client).status_code == 303
    assert "Send withdrawal notices to 1 holder" in client.get("/curator").text

    count = len(mailbox.messages)
    forged = client.post("/curator/notices", data={"csrf_token": "x"})
    assert forged.status_code == 403 and len(mailbox.messages) == count
    broken = config.model_copy(update={"smtp_port": free_port()})  # nothing listens there
    down = TestClient(create_app(broken))
    sign_in(down)
    failed = down.post("/curator/notices", data={"csrf_token": csrf(down, "/curator")})
    assert failed.status_code == 502 and "a@uni.example" in failed.text
    assert not [e for e in desk.log.entries() if e["event"] == "withdrawal_notice_sent"]

    def send() -> int:
        token = csrf(client, "/curator")
        return client.post("/curator/notices", data={"csrf_token": token}).status_code

    assert send() == 200  # the dashboard again, after the redirect
    new = mailbox.messages[count:]
    assert [m["To"] for m in new] == ["a@uni.example"]
    body = new[0].get_content()
    assert "Version 1.0.0" in body and "holds opted-out content" in body
    assert "use version 1.0.1" in body and f"{config.base_url}/researcher" in body
    sent = [
        e for e in open_desk(config.access).log.entries() if e["event"] == "withdrawal_notice_sent"
    ]
    assert [(e["actor"], e["details"]) for e in sent] == [(ana.id, {"version": "1.0.0"})]
    page = client.get("/curator").text
    assert "No withdrawal notice is owed" in page and "notice sent" in page
    assert "chain, signatures and grants intact" in page
    assert send() == 200 and len(mailbox.messages) == count + 1  # once
