"""The researcher's page: an e-mailed one-time sign-in, downloads through the desk (logged,
only one's own), and withdrawal notices whose deletion confirmation lands in the signed log."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from fastapi.testclient import TestClient

from curation.config import SiteConfig
from flows.web.app import create_app
from privacy.audit import open_desk
from privacy.blocklist import Blocklist
from storage.local import LocalStore
from tests.curation.release.test_build import publish
from tests.flows.web.conftest import Mailbox
from tests.flows.web.test_access_form import csrf


def own_store(site: SiteConfig, tmp_path: Path) -> SiteConfig:
    store = LocalStore(tmp_path / "store")
    publish(store, "1.0.0", Blocklist.empty())
    access = site.access.model_copy(update={"store": store.root, "access_dir": tmp_path / "a"})
    return site.model_copy(update={"access": access, "state": tmp_path / "site.sqlite3"})


def signed_in(config: SiteConfig, mailbox: Mailbox, email: str) -> TestClient:
    client = TestClient(create_app(config))
    token = csrf(client, "/researcher/login")
    sent = client.post("/researcher/login", data={"email": email, "csrf_token": token})
    assert "If this address holds access" in sent.text
    link = mailbox.link(email)
    assert link.startswith("/researcher/confirm/")
    client.post(link, data={"csrf_token": csrf(client, link)})
    assert client.get(link).status_code == 200  # the page; the link cannot sign in twice:
    again = TestClient(create_app(config))
    again.post(link, data={"csrf_token": csrf(again, link)}, follow_redirects=False)
    assert again.get("/researcher", follow_redirects=False).status_code == 303
    return client


def test_a_researcher_signs_in_downloads_and_confirms_a_deletion(
    site: SiteConfig, mailbox: Mailbox, tmp_path: Path
) -> None:
    config = own_store(site, tmp_path)
    TestClient(create_app(config))  # makes the desk's keys
    desk = open_desk(config.access)
    mine = desk.request("Ana", "UoH", "ana@uoh.example", "research", True)
    theirs = desk.request("Bo", "UoB", "bo@uob.example", "research", True)
    for g in (mine, theirs):
        desk.approve(g.id, "curator")
    count = len(mailbox.messages)
    unknown = TestClient(create_app(config))
    token = csrf(unknown, "/researcher/login")
    unknown.post("/researcher/login", data={"email": "nobody@x.example", "csrf_token": token})
    assert len(mailbox.messages) == count  # no mail, and the same page as for a holder

    client = signed_in(config, mailbox, "ana@uoh.example")
    page = client.get("/researcher").text
    links = re.findall(r'href="(/researcher/download\?token=[^"]+)"', page)
    assert len(links) == len(LocalStore(config.access.store).read_manifest("d", "1.0.0")["files"])
    first = client.get(links[0].replace("&amp;", "&"))
    path = re.search(r"path=([^&]+)", unquote(links[0])).group(1)  # type: ignore[union-attr]
    expected = LocalStore(config.access.store).version_dir("d", "1.0.0") / unquote(path)
    assert first.status_code == 200 and first.content == expected.read_bytes()
    assert any(e["event"] == "download" and e["actor"] == mine.id for e in desk.log.entries())
    other = next(iter(open_desk(config.access).issue(theirs.id).values()))
    from urllib.parse import quote

    stolen = client.get(f"/researcher/download?token={quote(other, safe='')}")
    assert stolen.status_code == 404  # another holder's token, from this session

    store = LocalStore(config.access.store)
    publish(store, "1.0.1", Blocklist.empty())
    store.withdraw("d", "1.0.0", "holds opted-out content", 30, datetime.now(UTC))
    page = client.get("/researcher").text
    assert "Version 1.0.0 was withdrawn" in page and "use 1.0.1" in page
    owed = {(r["grant"], r["version"]): r["deleted"] for r in open_desk(config.access).report(True)}
    assert owed[(mine.id, "1.0.0")] is False and owed[(mine.id, "1.0.1")] is None
    done = client.post(
        "/researcher/deletion/1.0.0",
        data={"csrf_token": csrf(client, "/researcher")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "You confirmed deleting it" in client.get("/researcher").text
    entries = open_desk(config.access).log.entries()
    assert [e["details"] for e in entries if e["event"] == "deletion_confirmed"] == [
        {"version": "1.0.0"}
    ]
    owed = {(r["grant"], r["version"]): r["deleted"] for r in open_desk(config.access).report(True)}
    assert owed[(mine.id, "1.0.0")] is True  # the curator's dashboard shows it confirmed
    assert client.post("/researcher/deletion/1.0.1", data={"csrf_token": "x"}).status_code == 403


def test_a_researcher_sets_a_password_and_signs_in_with_it_while_the_grant_lives(
    site: SiteConfig, mailbox: Mailbox, tmp_path: Path
) -> None:
    config = own_store(site, tmp_path)
    TestClient(create_app(config))
    desk = open_desk(config.access)
    grant = desk.request("Dee", "UoD", "dee@uod.example", "research", True)
    desk.approve(grant.id, "curator")
    client = signed_in(config, mailbox, "dee@uod.example")

    def set_password(password: str, again: str) -> str:
        token = csrf(client, "/researcher")
        data = {"password": password, "again": again, "csrf_token": token}
        return client.post("/researcher/password", data=data).text

    assert "12 characters or more" in set_password("short", "short")
    assert "12 characters or more" in set_password("long enough pass", "long enough typo")
    assert "Your password is set" in set_password("long enough pass", "long enough pass")

    def password_login(email: str, password: str) -> tuple[int, str]:
        fresh = TestClient(create_app(config))
        data = {
            "email": email,
            "password": password,
            "csrf_token": csrf(fresh, "/researcher/login"),
        }
        done = fresh.post("/researcher/login", data=data, follow_redirects=False)
        landed = fresh.get("/researcher", follow_redirects=False)
        return done.status_code, landed.text if landed.status_code == 200 else ""

    count = len(mailbox.messages)
    assert password_login("dee@uod.example", "long enough pass")[0] == 303
    assert "Dee: your access" in password_login("dee@uod.example", "long enough pass")[1]
    wrong, nobody = password_login("dee@uod.example", "wrong"), password_login("x@y.z", "wrong")
    assert wrong == nobody == (401, "")  # the same answer: nothing tells who holds access
    assert len(mailbox.messages) == count  # a password sign-in mails nothing
    forged = TestClient(create_app(config)).post(
        "/researcher/login", data={"email": "dee@uod.example", "password": "long enough pass"}
    )
    assert forged.status_code == 403
    desk.revoke(grant.id, "curator", "left the project")
    assert password_login("dee@uod.example", "long enough pass")[0] == 401
