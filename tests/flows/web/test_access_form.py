"""The access request form against a real SMTP server: nothing is filed until the address is
confirmed, a confirmation files one request with the desk, and the status page follows the
curator's decision. CSRF, escaping and the rate limit."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from curation.config import SiteConfig
from flows.web.app import create_app
from privacy.audit import open_desk
from tests.flows.web.conftest import Mailbox

FORM = {
    "name": "Asha K",
    "institution": "IIT Delhi",
    "email": "asha@iitd.example",
    "purpose": "affect recognition",
    "terms": "yes",
}


def csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_a_request_is_filed_once_its_address_is_confirmed(
    site: SiteConfig, mailbox: Mailbox
) -> None:
    client = TestClient(create_app(site))
    desk = open_desk(site.access)
    before = set(desk.grants())
    sent = client.post(
        "/access", data={**FORM, "csrf_token": csrf(client, "/access")}, follow_redirects=False
    )
    assert sent.status_code == 303
    status = sent.headers["location"]
    assert "waiting for you to confirm your address" in client.get(status).text
    assert set(open_desk(site.access).grants()) == before  # nothing filed yet
    link = mailbox.link("asha@iitd.example")
    assert status in mailbox.messages[-1].get_body().get_content()  # type: ignore[union-attr]

    confirm_page = client.get(link)
    assert (
        confirm_page.status_code == 200
        and "Confirm my address and file the request" in confirm_page.text
    )
    token = csrf(client, link)
    for _ in range(2):  # a second click files nothing more
        done = client.post(link, data={"csrf_token": token}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == status
    grants = open_desk(site.access).grants()
    (new,) = set(grants) - before
    assert (grants[new].name, grants[new].email, grants[new].status) == (
        "Asha K", "asha@iitd.example", "requested",
    )  # fmt: skip
    page = client.get(status).text
    assert new in page and "requested" in page

    open_desk(site.access).approve(new, "curator", days=30)  # the curator, from the CLI's desk
    page = client.get(status).text
    assert 'class="state-approved">approved' in page


def test_forms_need_their_csrf_token_and_bad_fields_get_one_line(site: SiteConfig) -> None:
    client = TestClient(create_app(site))
    assert client.post("/access", data=FORM).status_code == 403  # no token
    other = TestClient(create_app(site))
    stolen = csrf(other, "/access")  # a token for another browser's cookie
    assert client.post("/access", data={**FORM, "csrf_token": stolen}).status_code == 403
    token = csrf(client, "/access")
    hostile = {**FORM, "name": "<script>alert(1)</script>", "email": "not-an-address"}
    refused = client.post("/access", data={**hostile, "csrf_token": token})
    assert refused.status_code == 400
    assert "email is not an e-mail address" in refused.text
    assert "<script>alert(1)" not in refused.text and "&lt;script&gt;alert(1)" in refused.text
    unchecked = client.post("/access", data={**FORM, "terms": "", "csrf_token": token})
    assert unchecked.status_code == 400 and "terms must be accepted" in unchecked.text
    assert client.get("/access/confirm/not-a-token").status_code == 404
    assert client.get("/access/status/not-a-request").status_code == 404


def test_one_address_may_post_only_so_many_forms_an_hour(site: SiteConfig, tmp_path: Path) -> None:
    limited = site.model_copy(
        update={"form_posts_per_hour": 2, "state": tmp_path / "limited.sqlite3"}
    )
    client = TestClient(create_app(limited))
    token = csrf(client, "/access")
    codes = [
        client.post("/access", data={**FORM, "email": "", "csrf_token": token}).status_code
        for _ in range(3)
    ]
    assert codes == [400, 400, 429]
