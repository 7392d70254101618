"""The curator's dashboard: argon2 password, a fresh session at every sign-in, CSRF on every
action, limited sign-ins; its decisions land in the desk's signed log."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from curation.config import SiteConfig
from flows.web.app import create_app
from privacy.audit import open_desk
from tests.flows.web.test_access_form import csrf

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
