"""The creators' opt-out form: confirmed by e-mail, then written to the file the daily flow
reads, in the flow's own format; a whole account waits for the curator."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from curation.config import SiteConfig
from flows.cli import app as cli
from flows.web.app import create_app
from privacy.opt_out import parse_requests, read_requests
from tests.flows.web.conftest import Mailbox
from tests.flows.web.test_access_form import csrf

VIDEO = "https://sharevideo.example/@asha.k/video/7001"


def opt_out_site(site: SiteConfig, tmp_path: Path) -> SiteConfig:
    return site.model_copy(
        update={
            "opt_out_requests": tmp_path / "requests.csv",
            "opt_out_dir": tmp_path / "optout",
            "state": tmp_path / "site.sqlite3",
        }
    )


def send(client: TestClient, **form: str) -> object:
    data = {"links": "", "handle": "", "email": "asha@mail.example", "reason": "", **form}
    return client.post(
        "/opt-out", data={**data, "csrf_token": csrf(client, "/opt-out")}, follow_redirects=False
    )


def confirm(client: TestClient, mailbox: Mailbox, to: str) -> str:
    link = mailbox.link(to, "confirm")
    assert link.startswith("/opt-out/confirm/")
    done = client.post(link, data={"csrf_token": csrf(client, link)}, follow_redirects=False)
    assert done.status_code == 303
    return str(done.headers["location"])


def test_confirmed_video_links_reach_the_daily_flows_file(
    site: SiteConfig, mailbox: Mailbox, tmp_path: Path
) -> None:
    config = opt_out_site(site, tmp_path)
    client = TestClient(create_app(config))
    sent = send(
        client, links=f"{VIDEO}\n\n  https://www.sharevideo.example/@asha.k/video/7002?s=1 "
    )
    assert sent.status_code == 303  # type: ignore[attr-defined]
    assert not config.opt_out_requests.exists()  # nothing before the confirmation
    status = confirm(client, mailbox, "asha@mail.example")
    rows = read_requests(config.opt_out_requests)
    assert rows["scope"].to_list() == ["video", "video"]
    assert rows["requester_email"].unique().to_list() == ["asha@mail.example"]
    assert parse_requests(rows, config.platform_url)["reason"].null_count() == 2  # all valid
    page = client.get(status).text
    assert page.count("the next daily opt-out run processes it") == 2


def test_a_whole_account_waits_for_the_curator(
    site: SiteConfig, mailbox: Mailbox, tmp_path: Path
) -> None:
    config = opt_out_site(site, tmp_path)
    client = TestClient(create_app(config))
    assert send(client, handle="@asha.k", email="whole@mail.example").status_code == 303  # type: ignore[attr-defined]
    status = confirm(client, mailbox, "whole@mail.example")
    assert "waits for the curator" in client.get(status).text
    assert not config.opt_out_requests.exists()
    site_yaml = tmp_path / "site.yaml"
    site_yaml.write_text(config.model_dump_json())
    runner = CliRunner()
    listed = runner.invoke(cli, ["site", "waiting", "--config", str(site_yaml)])
    status_id = status.rsplit("/", 1)[1]
    assert status_id in listed.output and "@asha.k" in listed.output
    filed = runner.invoke(cli, ["site", "confirm-opt-out", status_id, "--config", str(site_yaml)])
    assert filed.exit_code == 0, filed.output
    rows = read_requests(config.opt_out_requests)
    assert rows.select("scope", "target").rows() == [
        ("creator", "https://sharevideo.example/@asha.k")
    ]
    again = runner.invoke(cli, ["site", "confirm-opt-out", status_id, "--config", str(site_yaml)])
    assert again.exit_code == 2 and "no confirmed opt-out" in again.output
    assert "the next daily opt-out run processes it" in client.get(status).text


def test_bad_opt_out_forms_say_what_is_wrong(site: SiteConfig, tmp_path: Path) -> None:
    client = TestClient(create_app(opt_out_site(site, tmp_path)))
    cases = {
        (): "give at least one video link",
        (("links", "https://elsewhere.example/v/1"),): "is not a link to a video on sharevideo",
        (("links", VIDEO), ("handle", "asha")): "not both",
        (("links", VIDEO), ("email", "nope")): "not an e-mail address",
        (("links", "\n".join([VIDEO] * 51)),): "at most 50 links",
        (("links", "<script>x</script>"),): "“&lt;script&gt;x&lt;/script&gt;” is not a link",
    }
    for form, message in cases.items():
        refused = send(client, **dict(form))
        assert refused.status_code == 400, form  # type: ignore[attr-defined]
        assert message in refused.text, (form, refused.text)  # type: ignore[attr-defined]
    assert "<script>x" not in send(client, links="<script>x</script>").text  # type: ignore[attr-defined]
    assert client.post("/opt-out", data={"links": VIDEO}).status_code == 403
    assert 'href="/opt-out"' in client.get("/").text  # every page links the form
